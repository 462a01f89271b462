"""Network building blocks shared by modalities and families."""
