"""DentalOsteo: osteoporosis screening aid for dental panoramic radiographs.

A referral aid, never a diagnosis: DXA is the reference standard.
"""

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("dentalosteo")
except _metadata.PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.1.0"

__all__ = ["__version__"]
