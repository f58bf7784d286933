import pytest

from tabular.dialect import Dialect


def test_dialect_validation():
    for bad in [dict(delimiter=",,"), dict(delimiter='"'), dict(quote="\n")]:
        with pytest.raises(ValueError):
            Dialect(**bad)
