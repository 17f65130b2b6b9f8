"""Figures that compare devices and schedulers from the files in results/ (the notebooks stay thin)."""
