"""``python -m btcflow_nb.render``: the same as ``btcflow-nb render``."""
import sys

from .cli import main

sys.exit(main())
