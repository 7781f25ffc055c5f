# JAGS + bridge sampling of the 36 RoBMA-PSMA models on the 50-study benchmark data, with
# RoBMA's default MCMC settings; see benchmarks/bench_robma.py. Needs tools/fixtures/robma_models.R.
suppressPackageStartupMessages({library(rjags); library(coda); library(bridgesampling); library(jsonlite)})
args <- commandArgs(FALSE)
here <- dirname(normalizePath(sub("--file=", "", grep("--file=", args, value = TRUE))))
source(file.path(here, "..", "..", "tools", "fixtures", "robma_models.R"))
d <- fromJSON(file.path(here, "bench50.json"))
ds <- list(yi = d$yi, sei = d$sei, vi = d$sei^2, cutoff_rule = "normal")
settings <- list(chains = 3, adapt = 500, burnin = 2000, draws = 5000, thin = 1)
specs <- ensemble_specs()
t0 <- proc.time()
logml <- numeric(length(specs))
for (k in seq_along(specs)) {
  spec <- specs[[k]]
  if (is_constant(spec)) { logml[k] <- sum(dnorm(ds$yi, 0, ds$sei, log = TRUE)); next }
  jd <- jags_data(spec, ds)
  inits <- lapply(1:3, function(i) c(initial_values(spec, i), list(.RNG.name = "base::Mersenne-Twister", .RNG.seed = k * 10 + i)))
  m <- jags.model(textConnection(jags_syntax(spec)), data = jd, inits = inits, n.chains = 3, n.adapt = 500, quiet = TRUE)
  update(m, n.iter = 2000, progress.bar = "none")
  s <- coda.samples(m, monitored(spec), n.iter = 5000, progress.bar = "none")
  dr <- bridge_draws(spec, s, 15000)
  set.seed(k)
  b <- bridge_sampler(samples = dr$matrix, log_posterior = log_posterior, data = list(spec = spec, ds = ds, jd = jd),
                      lb = dr$lb, ub = dr$ub, method = "normal", maxiter = 50000, silent = TRUE)
  logml[k] <- b$logml
  cat(k, spec$id, b$logml, (proc.time() - t0)[["elapsed"]], "\n")
}
tt <- proc.time() - t0
cat("TOTAL elapsed", tt[["elapsed"]], "cpu", tt[["user.self"]] + tt[["sys.self"]], "\n")
writeLines(toJSON(list(logml = logml, ids = vapply(specs, `[[`, "", "id"), elapsed = tt[["elapsed"]],
                       cpu = tt[["user.self"]] + tt[["sys.self"]]), auto_unbox = TRUE, digits = NA), file.path(here, "jags_result.json"))
