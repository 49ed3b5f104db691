"""A DICOM dataset as the bytes of a Part 10 file (preamble, file meta, dataset)."""

from __future__ import annotations

import io
from typing import Any

from ... import __version__


def dataset_bytes(ds: Any) -> bytes:
    """The DICOM file (preamble, file meta, dataset) as bytes."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian

    meta = getattr(ds, "file_meta", None) or FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = meta.get("TransferSyntaxUID") or ExplicitVRLittleEndian
    meta.ImplementationClassUID = meta.get("ImplementationClassUID") or PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = f"DENTALOSTEO_{__version__}"[:16]
    ds.file_meta = meta
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()
