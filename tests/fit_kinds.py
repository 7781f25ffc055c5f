"""Every fitted-model class of the library and the session fixture (tests/conftest.py) building one.

Tests that must cover every fit type enumerate this table; a new fit type is added here.
"""

import multilevel as ml

FIT_FIXTURES = {
    ml.LinearModel: "lm_fit",
    ml.LmList: "lm_list_fit",
    ml.LinearMixedModel: "lmer_fit",
    ml.RmaFit: "rma_fit",
    ml.RmaMvFit: "rma_mv_fit",
    ml.BrmaFit: "brma_fit",
    ml.GeneralizedLinearMixedModel: "glmer_fit",
    ml.NegativeBinomialMixedModel: "glmer_nb_fit",
    ml.RmaTrimfillFit: "trimfill_fit",
    ml.RmaMhFit: "rma_mh_fit",
    ml.RmaPetoFit: "rma_peto_fit",
    ml.SelmodelFit: "selmodel_fit",
    ml.RmaGlmmFit: "rma_glmm_fit",
    ml.RobustRmaFit: "robust_rma_fit",
    ml.RobustRmaMvFit: "robust_rma_mv_fit",
    ml.RobmaFit: "robma_fit",
    ml.RobmaRegFit: "robma_reg_fit",
}
