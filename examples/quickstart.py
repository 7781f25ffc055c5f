"""Fit lme4's classic sleepstudy model and print its lme4-style summary."""

import multilevel as ml

sleep = ml.datasets.load("sleepstudy")
fit = ml.lmer("Reaction ~ Days + (Days | Subject)", sleep)
print(fit.summary())
