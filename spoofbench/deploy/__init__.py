"""From a fitted detector to use: calibrated decisions with a review band, export, compression, serving."""
