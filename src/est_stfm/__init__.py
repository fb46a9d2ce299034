"""EST-STFM."""
