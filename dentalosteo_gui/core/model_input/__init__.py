"""Model input built once per input kind, shared by training and inference:

- ``roi``        the ROI box crop (:func:`roi.prepare_roi_input`)
- ``strip``      the straightened cortex strip (:func:`strip.prepare_band_input`)
- ``landmarks``  the eight landmark patches (:func:`landmarks.prepare_landmark_input`)
- ``common``     the per-patch z-score and batch / channel axes
- ``preprocess`` the reference frame of Lee et al. and the historical names of all of these
"""
