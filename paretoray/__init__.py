"""paretoray: Pareto sets by batched gradient-based multi-objective optimization on Ray.

The card::

    import paretoray as pr
    front = pr.search("zdt1", "epo", population=64, steps=500, workers=2, run_dir="runs/z")
    front = pr.resume("runs/z", steps=500)      # refine the same archive
    front = pr.open("runs/z")                    # read it back, no Ray needed
    front.objectives, front.x, front.hypervolume(), front.to_pandas(), front.plot("f.png")
    job = pr.submit("search.yaml", address="http://head:8265")   # Ray Jobs API -> job id

Minimization everywhere. Ray is imported only when a search runs on it.
"""

from paretoray.algorithms.base import Weighting
from paretoray.api import open, resume, search
from paretoray.archive import ParetoSet
from paretoray.config import SearchConfig
from paretoray.distributed.jobs import submit
from paretoray.problems.base import Problem

__all__ = ["ParetoSet", "Problem", "SearchConfig", "Weighting", "open", "resume", "search",
           "submit"]
__version__ = "0.1.0"
