"""The array types every layer's signatures use (one definition for the whole package)."""

import numpy as np
from numpy.typing import NDArray

#: an array of floats (spend, customers, values, duals …)
Float = NDArray[np.float64]
#: an array of integer indexes (cells, periods, rows …)
Int = NDArray[np.int64]
