"""Images in: readers for PNG/JPEG/TIFF/BMP and DICOM, pure pixel helpers, heatmap placement."""
