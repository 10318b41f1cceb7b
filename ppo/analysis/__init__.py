"""From run directories to the report: aggregate tables, statistics, figures, videos and the report itself.

Reads runs only through ppo.run.directory and agents only through the registry (ppo.agents). This file
stays free of heavy imports: the workflow reads FIGURE_NAMES on every `snakemake` call.
"""

# The figures `ppo plot` draws for each env, as report/figures/{env}/{name}.png.
FIGURE_NAMES = ("episode_rewards", "learning_curves", "final_returns", "wall_clock")
# The comparison across envs (`ppo compare`): results/compare/{name}.csv and report/figures/compare/{name}.png.
COMPARE_TABLES = ("scores", "aggregates", "improvement", "profiles")
COMPARE_FIGURES = ("aggregate_metrics", "probability_of_improvement", "performance_profiles")
