"""Inference: which reference pairs (references.py), tiles (tiles.py), fusing a date in memory or
to a GeoTIFF (predict.py), test-time adaptation (adapt.py). Import from the modules; this package
stays light so the command line starts without torch."""
