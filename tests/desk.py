"""Setting up an access desk as its users do: keys made with `keygen`, a register bootstrapped
by the audit key's holder and grown by senior officers (shared by the evidence tests)."""

from __future__ import annotations

from pathlib import Path

from twin.cli.main import main
from twin.core.signing import public_key_b64
from twin.storage.keys import load_officer_key, officer_key_path, write_officer_key

ROOT = Path(__file__).resolve().parent.parent
POLICY_SCENARIO = ROOT / "scenarios" / "evidence-7000.yaml"
ROOT_OFFICER = ("supt-1", "Superintendent")
#: The officers the evidence tests act as, with their registered ranks.
OFFICERS = {
    "pc-1": "Police Constable",
    "pc-2": "Police Constable",
    "pc-7": "Police Constable",
    "ip-1": "Inspector",
    "cip-1": "Chief Inspector",
    "cip-2": "Chief Inspector",
}


def ev(*args: str | float | Path) -> int:
    return main(["evidence", *[str(a) for a in args]])


def public_key(officer: str) -> str:
    """The officer's public key, making their key pair on first use (as `keygen` does)."""
    if not officer_key_path(officer).exists():
        write_officer_key(officer)
    return public_key_b64(load_officer_key(officer))


def make_desk(run: Path, at: float = 0.0, officers: dict[str, str] | None = None) -> None:
    """Bootstrap `run`'s register with the root officer at `at`, who then enrols `officers`."""
    root, rank = ROOT_OFFICER
    assert (
        ev(
            "officer",
            "init",
            run,
            "--at",
            at,
            "--officer",
            root,
            "--rank",
            rank,
            "--public-key",
            public_key(root),
            "--scenario",
            POLICY_SCENARIO,
        )
        == 0
    )
    for oid, r in (OFFICERS if officers is None else officers).items():
        assert (
            ev(
                "officer",
                "add",
                run,
                "--at",
                at,
                "--officer",
                root,
                "--new",
                oid,
                "--new-rank",
                r,
                "--public-key",
                public_key(oid),
            )
            == 0
        )
