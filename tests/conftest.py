import sys
from pathlib import Path

import torch

# Helper modules in tests/ (notebook_outputs) import by name.
sys.path.insert(0, str(Path(__file__).resolve().parent))
torch.set_num_threads(2)
