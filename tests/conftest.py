import os
import sys
from pathlib import Path

import torch

import genlearn.device  # noqa: F401  (first: it flushes denormals before torch starts its worker threads)

# Helper modules in tests/ (notebook_outputs) import by name.
sys.path.insert(0, str(Path(__file__).resolve().parent))
# A fixed thread count, so that no result depends on how busy the machine is: genlearn.configure_threads()
# (the command line, the notebooks' kernels, which inherit it) takes OMP_NUM_THREADS. Two, unless set lower.
os.environ.setdefault("OMP_NUM_THREADS", "2")
torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
# The bundled MNIST subset, as on a fresh clone and in CI, even where full MNIST is in data/full (git-ignored): the
# notebooks' kernels inherit it, so they check what CI checks (full MNIST made notebook 02 alone about 50 s slower).
os.environ.setdefault("GENLEARN_MNIST_ROOT", str(Path(__file__).resolve().parents[1] / "data" / "no-full-mnist-in-tests"))
