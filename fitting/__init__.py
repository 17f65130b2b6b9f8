"""Marginal-cost models fitted to probe records, the profile format, and the EB threshold math."""
