from manymodels.experiment.estimators import package_version


def test_package_version_names_the_distribution():
    import sklearn

    assert package_version("sklearn.mixture.GaussianMixture") == f"scikit-learn=={sklearn.__version__}"
