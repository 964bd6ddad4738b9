"""The shared modeling layer: logistic scorecards, the fitted scorecard artefact, model evaluation."""
