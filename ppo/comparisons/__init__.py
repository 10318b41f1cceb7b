"""Comparisons that add seeds in waves until decided (AdaStop, Mathieu et al. 2023)."""
