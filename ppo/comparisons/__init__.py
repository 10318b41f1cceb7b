"""Comparisons that add seeds in waves until decided (AdaStop, Mathieu et al. 2023).

spec: the config's entries, their wave seeds and check_comparisons; decide: the test replayed over finished waves;
files: the wave records the workflow reads and the decisions file the report reads.
"""

from ppo.comparisons.spec import Comparison, can_decide, check_comparisons, comparisons

__all__ = ["Comparison", "can_decide", "check_comparisons", "comparisons"]
