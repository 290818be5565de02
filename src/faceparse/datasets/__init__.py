"""Dataset readers, one module per on-disk format, looked up by name in `READERS`."""

from faceparse.datasets import mappings  # noqa: F401  (registers the tables between label sets)
from faceparse.datasets.base import (READERS, DatasetReader, Sample, colours_to_labels, get_reader,
                                     read_image, read_index_mask, register)
from faceparse.datasets import fasseg, facesynthetics, photos  # noqa: F401  (registers the readers)
from faceparse.datasets import celebamask_hq, folder, helen, ibugmask, lapa, mut1ny  # noqa: F401

__all__ = ["READERS", "DatasetReader", "Sample", "colours_to_labels", "get_reader", "read_image",
           "read_index_mask", "register"]
