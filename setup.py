"""Package layout only (metadata is in pyproject.toml).

The migrations live in the repository's `sql/` folder and ship inside the installed
package as `core/db/sql/`: pyproject.toml cannot map a folder into a package that
`find` discovers, so the packages are listed here.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["core*", "daemon*", "bot*", "app*"]), "core.db.sql"],
    package_dir={"core.db.sql": "sql"},
    package_data={"core": ["py.typed"], "core.db.sql": ["*.sql"]},
)
