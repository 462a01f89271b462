"""``python -m genaug.cli``: the command line (``torchrun --nproc_per_node K -m genaug.cli generate ...``)."""

import sys

from genaug.cli import main

sys.exit(main())
