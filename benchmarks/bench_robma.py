"""Benchmark: ``ml.robma`` (default RoBMA-PSMA ensemble, 36 models) against JAGS + bridge sampling.

1. ``python benchmarks/bench_robma.py data``   writes the 50-study dataset (bench50.json)
2. ``Rscript benchmarks/robma/robma_vs_jags.R``        fits the 36 models in JAGS with RoBMA's default
   MCMC settings (3 chains, 500 adaptation, 2000 burn-in, 5000 draws) and bridge sampling
   (models from tools/fixtures/robma_models.R), writes jags_result.json
3. ``python benchmarks/bench_robma.py``        times ml.robma on the same data and compares the
   log marginal likelihoods and the times (wall clock and CPU)

The dataset is simulated: 200 two-group studies (n from 20 to 199, true d ~ N(0.2, 0.15^2)),
all significant ones published and 30% of the others; the first 50 published are kept.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent / "robma"


def make_data():
    rng = np.random.default_rng(50)
    n = rng.integers(20, 200, 200)
    d_true = 0.2 + rng.normal(0, 0.15, 200)
    se = np.sqrt(4 / n + d_true**2 / (2 * n))
    d = d_true + rng.normal(0, se)
    keep = (d / se > 1.96) | (rng.random(200) < 0.3)
    d, se = d[keep][:50], se[keep][:50]
    (HERE / "bench50.json").write_text(json.dumps({"yi": d.tolist(), "sei": se.tolist()}))


def main():
    import multilevel as ml

    data = json.loads((HERE / "bench50.json").read_text())
    ml.robma(data["yi"][:10], sei=data["sei"][:10], measure="SMD", model_type="PP", draws=200, seed=1)  # imports
    t, c = time.perf_counter(), time.process_time()
    fit = ml.robma(data["yi"], sei=data["sei"], measure="SMD", cutoffs="normal", seed=1)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    print(f"ml.robma: wall {wall:.1f} s, CPU {cpu:.1f} s")
    path = HERE / "jags_result.json"
    if path.exists():
        ref = json.loads(path.read_text())
        ours = np.array([m.log_ml for m in fit.models])
        diff = ours - np.array(ref["logml"])
        print(f"JAGS + bridge sampling: wall {ref['elapsed']:.1f} s, CPU {ref['cpu']:.1f} s; "
              f"speed-up wall {ref['elapsed'] / wall:.0f}x, CPU {ref['cpu'] / cpu:.0f}x")
        print(f"log marginal likelihoods: max |difference| {np.abs(diff).max():.4f}, "
              f"median {np.median(np.abs(diff)):.4f}")


if __name__ == "__main__":
    make_data() if sys.argv[1:] == ["data"] else main()
