import re
from pathlib import Path

import pytest

from app.catalog import check_request, frame_size, load_catalog


def test_catalog_loads_demo_and_retired_models():
    c = load_catalog()
    demo = [m for m in c if m.provider == "demo"]
    assert len(demo) >= 3
    assert len({m.options["look"] for m in demo}) == len(demo), "demo models must look different"
    sora = c.get("openai/sora-2")
    assert sora.status == "retired" and not sora.selectable and sora.retired_on == "2026-09-24"


def test_frame_size_uses_the_short_side():
    assert frame_size("720p", "16:9") == (1280, 720)
    assert frame_size("720p", "9:16") == (720, 1280)
    assert frame_size("480p", "1:1") == (480, 480)
    assert frame_size("1080p", "21:9") == (2520, 1080)


def test_check_request_names_what_the_model_accepts():
    ember = load_catalog().get("demo/ember")
    errors = check_request(ember, duration_s=3, aspect_ratio="4:3", resolution="1080p", has_image=True)
    assert "does not take a source image" in errors[0]
    assert any("accepts 2, 4, 5, 6, 8, 10 s" in e for e in errors)
    assert any("accepts 16:9, 9:16, 1:1" in e for e in errors)
    assert any("accepts 360p, 480p, 720p" in e for e in errors)
    assert check_request(ember, duration_s=4, aspect_ratio="16:9", resolution="720p", has_image=False) == []


def test_retired_model_is_refused_with_its_reason():
    errors = check_request(load_catalog().get("openai/sora-2-pro"), duration_s=4, aspect_ratio="16:9",
                           resolution="720p", has_image=False)
    assert errors and "retired on 2026-09-24" in errors[0] and "shut down" in errors[0]


def test_user_catalog_dir_adds_entries(tmp_path):
    (tmp_path / "mine.toml").write_text('[[model]]\nid = "demo/mine"\nprovider = "demo"\nname = "Mine"\n'
                                        'durations = [4]\noptions = { look = "blocks", fps = 12 }\n')
    c = load_catalog(tmp_path)
    assert c.get("demo/mine").name == "Mine" and c.get("demo/aurora") is not None


def test_durations_narrowed_at_some_resolutions_are_refused_with_what_works():
    hailuo = load_catalog().get("minimax/hailuo-2.3")
    errors = check_request(hailuo, duration_s=10, aspect_ratio="16:9", resolution="1080p", has_image=False)
    assert errors == ["Hailuo 2.3 (MiniMax) renders 1080p only at 6 s (not 10 s); at 10 s it accepts 768p"]
    assert check_request(hailuo, duration_s=6, aspect_ratio="16:9", resolution="1080p", has_image=False) == []


def test_price_depends_on_resolution_and_audio_where_the_provider_says_so():
    c = load_catalog()
    ray = c.get("luma/ray-2")
    assert ray.price_for(5, False, "720p") == pytest.approx(5 * 0.1416)
    assert ray.price_for(5, False, "1080p") == pytest.approx(5 * 0.3185)
    assert c.get("demo/aurora").price_for(4, True, "720p") == 0
    kling = next(m for m in c if m.price_per_second_audio and m.price_per_second_audio != m.price_per_second)
    assert kling.price_for(5, True) > kling.price_for(5, False)


def test_nearest_duration_and_auto_durations_for_models_without_a_shared_one():
    from app.comparisons import auto_durations, pick_duration
    from app.catalog import ModelSpec

    veo = ModelSpec(id="x/veo", provider="x", name="Veo", durations=(4, 6, 8), default_duration=8)
    kling = ModelSpec(id="x/kling", provider="x", name="Kling", durations=(5, 10))
    free = ModelSpec(id="x/free", provider="x", name="Free", duration_range=(2, 6))
    assert kling.nearest_duration(8) == 10 and kling.nearest_duration(7.5) == 10 and kling.nearest_duration(7) == 5
    assert veo.nearest_duration(5) == 6          # a tie goes to the longer one
    assert free.nearest_duration(9) == 6 and free.nearest_duration(3.5) == 3.5
    d = pick_duration([veo, kling])
    assert d == 8
    assert auto_durations([veo, kling, free], d) == {"x/kling": 10.0, "x/free": 6.0}
    assert auto_durations([veo, free], 6) == {}


# ---------------------------------------------------------------------- citations
ROOT = Path(__file__).resolve().parent.parent
# A path ending in .md: relative, "../…" or absolute (the last two can never be in the repository).
MD_REF = re.compile(r"(?<![\w/.-])((?:\.\./|/)?(?:[\w.-]+/)*[\w-][\w.-]*\.md)\b")
HOST = re.compile(r"[\w-]+(?:\.[\w-]+)+")


def cited_md(text: str) -> list[str]:
    """The .md files a text cites, leaving out paths in other sites (github.com/owner/repo/…)."""
    out = []
    for ref in MD_REF.findall(text):
        first = ref.lstrip("/").split("/")[0]
        if "/" in ref.lstrip("/") and HOST.fullmatch(first):
            continue
        out.append(ref)
    return out


def in_repository(ref: str, where) -> bool:
    """`ref` names a file inside the repository, from the root or from the citing file's folder."""
    if ref.startswith("/"):
        return False
    for base in (ROOT, where):
        path = (base / ref).resolve()
        if path.is_relative_to(ROOT) and path.exists():
            return True
    return False


def test_cited_md_finds_what_a_citation_looks_like():
    assert cited_md("see docs/providers/fal.md §Models and README.md") == ["docs/providers/fal.md", "README.md"]
    assert cited_md("per /work/shared/providers.md §4, ../shared/DESIGN.md") == [
        "/work/shared/providers.md", "../shared/DESIGN.md"]
    assert cited_md("github.com/inference-sh/grid/blob/HEAD/api/klingai/pricing.md") == []
    assert not in_repository("/work/shared/providers.md", ROOT)
    assert not in_repository("providers.md", ROOT / "app")
    assert in_repository("docs/providers/README.md", ROOT / "app")


def test_catalog_and_code_cite_only_files_in_the_repository():
    """Descriptions on /models, docstrings, templates and docs name only files a reader of this
    repository can open (no notes kept outside it)."""
    missing = []
    for spec in load_catalog():
        for field in ("description", "docs", "price_source", "retired_reason"):
            for ref in cited_md(str(getattr(spec, field, "") or "")):
                if not in_repository(ref, ROOT):
                    missing.append(f"catalog {spec.id} {field}: {ref}")
    patterns = ("app/**/*.py", "app/catalog/*.toml", "templates/**/*.html", "static/*.js", "docs/**/*.md",
                "tests/**/*.py", "bench/**/*.py")
    for path in sorted({p for pattern in patterns for p in ROOT.glob(pattern)}):
        if path.name == "test_catalog.py":
            continue   # its own examples of bad citations
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            missing += [f"{path.relative_to(ROOT)}:{n}: {ref}" for ref in cited_md(line)
                        if not in_repository(ref, path.parent)]
    assert not missing, "cited but not in the repository:\n" + "\n".join(missing)


def test_seed_models_without_a_live_route_have_an_honest_row():
    """Veo 3 and LTX-2 Pro (named by the seed): retired where they are gone, with the date and the
    source, and an unverified route where one may still exist; never a silent absence."""
    catalog = load_catalog()
    for model_id, retired_on in (("fal/veo-3", "2026-08-02"), ("vertex/veo-3.0", "2026-06-30"),
                                 ("vertex/veo-3.0-fast", "2026-06-30"), ("fal/ltx-2-pro", "2026-08-02")):
        spec = catalog.get(model_id)
        assert spec.status == "retired" and spec.retired_on == retired_on and not spec.selectable, model_id
        assert "docs/providers/README.md §Status changes" in spec.retired_reason, model_id
    runway_veo3 = catalog.get("runway/veo-3")          # gone from runwayml 5.24.0 (tests/test_runway_hosted.py)
    assert runway_veo3.status == "retired" and runway_veo3.retired_on == "2026-12-01" and not runway_veo3.selectable
    for model_id, endpoint in (("replicate/ltx-2-pro", "lightricks/ltx-2-pro"),):
        spec = catalog.get(model_id)
        assert spec.unverified and spec.selectable and spec.endpoint == endpoint, model_id
        assert spec.description.startswith("Unverified:"), model_id


def test_fractions_are_refused_on_whole_second_range_models_only():
    catalog = load_catalog()
    for model_id in ("replicate/kling-v3", "ark/seedance-2.0", "fal/kling-v3-pro"):
        spec = catalog.get(model_id)
        errs = check_request(spec, duration_s=6.5, aspect_ratio="16:9", resolution=spec.resolutions[0],
                             has_image=False)
        assert errs == [f"{spec.name} takes whole seconds only (6.5 s would be refused or rounded); choose 6 or 7 s"]
    for model_id in ("demo/aurora", "comfyui/ltxv-2b-0.9.5"):
        spec = catalog.get(model_id)
        assert spec.fractional_durations and check_request(
            spec, duration_s=6.5, aspect_ratio="16:9", resolution=spec.resolutions[-1], has_image=False) == [], model_id


def test_every_wan_2_7_route_is_labelled_never_silent():
    """Wan 2.7 adds music or sound effects of its own when it is given no audio, and Takes sends
    none (docs/providers/fal.md §Wan): the audio comes from the model, so no route of it may say
    silent, Replicate's included."""
    routes = [m for m in load_catalog() if m.family == "Wan" and "2.7" in m.id]
    assert {m.id for m in routes} >= {"fal/wan-2.7", "replicate/wan-2.7"}
    assert {m.id: m.audio for m in routes} == {m.id: "always" for m in routes}
