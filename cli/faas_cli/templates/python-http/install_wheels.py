"""Install the wheels of a folder into a target folder, without pip or a network.

`faas build` resolved the dependencies on the host (`pip wheel -r
requirements.txt`), so every wheel in the folder is wanted: a wheel is a zip,
its `*.data/purelib` and `platlib` parts go beside the packages.
"""

import shutil
import sys
import zipfile
from pathlib import Path


def main(wheels: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for whl in sorted(wheels.glob("*.whl")):
        with zipfile.ZipFile(whl) as z:
            z.extractall(target)
        for data in target.glob("*.data"):
            for part in ("purelib", "platlib"):
                if (data / part).is_dir():
                    shutil.copytree(data / part, target, dirs_exist_ok=True)
            shutil.rmtree(data)
        print(f"installed {whl.name}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
