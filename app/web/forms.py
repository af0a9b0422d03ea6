"""Reading HTML form fields into the typed inputs the plain functions take. A value that is
not what the field needs is refused with a message (422), never cut or guessed."""

from __future__ import annotations

from starlette.datastructures import FormData

from app.comparisons import ComparisonInput
from app.errors import InputError
from app.storage import LocalStorage
from app.uploads import load_pending
from app.votes import BallotInput

COMPARISON_FIELDS = ("prompt", "duration_s", "aspect_ratio", "resolution", "board", "seed", "negative_prompt")


def whole_number(v: str | None) -> int | None:
    """A whole number (its range is checked with the rest of the comparison); 1.7 or "inf" is refused, not cut."""
    if v in (None, ""):
        return None
    try:
        return int(v.strip())
    except ValueError:
        raise InputError(f"the seed must be a whole number, not {v!r}") from None


def number(v: str | None) -> float | None:
    if v in (None, ""):
        return None
    try:
        return float(v)
    except ValueError:
        raise InputError(f"{v!r} is not a number") from None


def comparison_fields(form: FormData) -> dict:
    """The form's fields as typed, to redraw the form with what was sent."""
    raw = {k: form.get(k) for k in COMPARISON_FIELDS}
    raw["models"] = form.getlist("models")
    raw["audio"] = form.get("audio") == "on"
    raw["rewrite_prompt"] = form.get("rewrite_prompt") == "on"
    raw["pending_image"] = form.get("pending_image") or None
    return raw


async def comparison_input(form: FormData, raw: dict, storage: LocalStorage) -> ComparisonInput:
    """A newly chosen file wins; else the image kept from a refused try (app/uploads.py)."""
    upload, ref_upload = form.get("image"), form.get("reference_video")
    image = await upload.read() if upload is not None and getattr(upload, "filename", "") else None
    if image is None and raw["pending_image"]:
        image = load_pending(storage, raw["pending_image"])
    elif image is not None:
        raw["pending_image"] = None   # the new file replaces the kept one
    ref = await ref_upload.read() if ref_upload is not None and getattr(ref_upload, "filename", "") else None
    return ComparisonInput(
        prompt=raw["prompt"] or "", models=raw["models"], duration_s=number(raw["duration_s"]),
        aspect_ratio=raw["aspect_ratio"] or None, resolution=raw["resolution"] or None,
        board=raw["board"] or None, seed=whole_number(raw["seed"]),
        negative_prompt=raw["negative_prompt"] or None, audio=raw["audio"], image=image, reference_video=ref,
        rewrite_prompt=raw["rewrite_prompt"])


def ballot_input(form: FormData) -> BallotInput:
    return BallotInput(kind=form.get("kind", "pair"), criterion=form.get("criterion", "overall"),
                       take_a=form.get("take_a"), take_b=form.get("take_b"), outcome=form.get("outcome"),
                       best=form.get("best"), ranking=[t for t in form.get("ranking", "").split(",") if t] or None)
