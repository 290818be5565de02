"""The study's stages, one thin entry point each, run from the repo root as `python -m stages.<name>`
with the data and model paths they read and write on the command line (see dvc.yaml); their small
metrics files have fixed names under metrics/."""
