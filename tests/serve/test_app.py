"""``vipnas serve`` without a browser (Starlette's test client): choices, uploads checked by size and content, jobs
streamed frame by frame with their downloads, concurrent jobs, named errors, the search API, no temporary file left
behind, localhost by default."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest
from serve_media import repeat_truth, write_video

from vipnas.nas.report import pareto_front
from vipnas.nas.search import Candidate
from vipnas.serve import ServeSettings

pytest.importorskip("starlette", reason="the serve extra is not installed: pip install -e '.[serve]'")
try:
    from starlette.testclient import TestClient
except (ImportError, RuntimeError) as error:  # RuntimeError: no httpx2 (the dev extra) nor httpx
    pytest.skip(f"no test client for Starlette ({error}): pip install -e '.[dev,serve]'", allow_module_level=True)

from vipnas.serve.app import create_app


def _client(runs: Path | tuple[Path, ...], tmp_path: Path, **settings) -> TestClient:
    folder = tmp_path / "tmp"
    folder.mkdir(exist_ok=True)
    runs = runs if isinstance(runs, tuple) else (runs,)
    options = {"runs": runs, "clips": 1, "clip_frames": 6, "temporary_parent": folder, **settings}
    return TestClient(create_app(ServeSettings(**options)))


def _upload(client: TestClient, path: Path, kind: str = "video", name: str | None = None):
    headers = {"X-File-Name": name or path.name}
    return client.post(f"/api/uploads?kind={kind}", content=path.read_bytes(), headers=headers)


def _events(client: TestClient, job: str) -> list[dict]:
    found = []
    with client.stream("GET", f"/api/jobs/{job}/events") as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                found.append(json.loads(line[6:]))
                if found[-1]["type"] != "frame":
                    break
    return found


def _model(client: TestClient, name: str) -> str:
    return next(m["id"] for m in client.get("/api/choices").json()["models"] if m["label"].endswith(name))


def test_a_job_streams_every_frame_with_track_ids_and_its_downloads(serve_runs, synthpose_video, tmp_path) -> None:
    video, truth, count = synthpose_video
    with _client(serve_runs, tmp_path) as client:
        choices = client.get("/api/choices").json()
        assert [t["length"] for t in choices["temporal"]] == [2] and choices["clips"][0]["frames"] == 6
        assert {"builtin", "checkpoint"} <= {m["kind"] for m in choices["models"]}
        uploaded = _upload(client, video).json()
        assert uploaded["frames"] == count and uploaded["container"] == "MP4/QuickTime"
        boxes = _upload(client, truth, "boxes").json()
        temporal = choices["temporal"][0]["id"]
        request = {"video": {"upload": uploaded["upload"]}, "boxes": boxes["upload"], "detector": "boxes", "every": 2,
                   "model": _model(client, "key.pth"), "temporal": temporal, "length": 2}  # fmt: skip
        response = client.post("/api/jobs", json=request)
        assert response.status_code == 201, response.text
        job = response.json()["job"]
        events = _events(client, job)
        frames, last = events[:-1], events[-1]
        assert last == {"type": "done", "state": "done", "frames": count, "files": ["jsonl", "posetrack", "video"]}
        assert [f["index"] for f in frames] == list(range(count)) and all(f["jpeg"] for f in frames)
        assert set(frames[0]["timings_ms"]) == {"detect", "track", "crop", "infer", "decode", "total"}
        tracks = {p["track_id"] for f in frames for p in f["people"]}
        assert tracks and {p["network"] for f in frames for p in f["people"]} == {"key", "t1", "t2"}
        mp4 = tmp_path / "out.mp4"
        mp4.write_bytes(client.get(f"/api/jobs/{job}/files/video").content)
        capture = cv2.VideoCapture(str(mp4))
        assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == count
        capture.release()
        lines = client.get(f"/api/jobs/{job}/files/jsonl").text.splitlines()
        assert [json.loads(line)["frame"] for line in lines] == list(range(count))
        posetrack = client.get(f"/api/jobs/{job}/files/posetrack").json()
        assert len(posetrack["images"]) == count and {a["track_id"] for a in posetrack["annotations"]} == tracks
        # a bundled clip runs with its own ground truth and the built-in network
        job = client.post("/api/jobs", json={"video": {"clip": "synthpose-1"}, "model": "builtin:synthpose-largest"})
        assert _events(client, job.json()["job"])[-1]["frames"] == 6


def test_uploads_are_checked_by_size_and_content_with_named_errors(serve_runs, synthpose_video, tmp_path) -> None:
    video, _, _ = synthpose_video
    text = tmp_path / "notes.mp4"
    text.write_text("these are not the frames you are looking for\n" * 4)
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(video.read_bytes()[:48])  # the MP4 signature, then nothing to decode
    with _client(serve_runs, tmp_path, max_upload_bytes=video.stat().st_size - 1) as client:
        response = _upload(client, text)
        assert response.status_code == 415 and response.json()["error"].startswith(
            "notes.mp4: not a video by its content"
        )
        response = _upload(client, truncated)
        assert response.status_code == 415
        assert (
            response.json()["error"]
            == "cut.mp4: OpenCV cannot decode this file as a video (corrupt, truncated, or not a video)"
        )
        response = _upload(client, video)  # declared too large
        assert (
            response.status_code == 413
            and "clip.mp4" in response.json()["error"]
            and "limit" in response.json()["error"]
        )
        chunks = (video.read_bytes()[i : i + 4096] for i in range(0, video.stat().st_size, 4096))
        response = client.post("/api/uploads", content=chunks, headers={"X-File-Name": "streamed.mp4"})  # no length
        assert response.status_code == 413 and "streamed.mp4" in response.json()["error"]
        response = _upload(client, text, kind="boxes")
        assert (
            response.status_code == 415
            and "notes.mp4: not JSON; expected a COCO/PoseTrack18" in response.json()["error"]
        )
        (tmp_path / "other.json").write_text('{"frames": []}')
        response = _upload(client, tmp_path / "other.json", kind="boxes")
        assert response.status_code == 415 and response.json()["error"].startswith(
            "other.json: not a COCO or PoseTrack18"
        )
        response = _upload(client, text, kind="poster")
        assert response.status_code == 400 and "expected one of video, boxes" in response.json()["error"]
        assert list((client.app.state.server.folder / "uploads").iterdir()) == []  # nothing refused is kept


def test_bad_job_requests_and_failures_are_named(serve_runs, synthpose_video, tmp_path) -> None:
    video, _, _ = synthpose_video
    doomed = tmp_path / "doomed"
    doomed.mkdir()
    (doomed / "gone.pth").write_bytes((serve_runs / "key.pth").read_bytes())
    with _client((serve_runs, doomed), tmp_path) as client:
        uploaded = _upload(client, video).json()["upload"]
        cases = [
            ({"video": {"clip": "synthpose-9"}, "model": "builtin:synthpose-largest"}, "video.clip 'synthpose-9'"),
            ({"video": {"upload": uploaded}, "model": "nonsense"}, "model 'nonsense'"),
            ({"video": {"upload": uploaded}, "model": "builtin:synthpose-largest"}, "detector 'boxes': upload a boxes"),
            (
                {"video": {"clip": "synthpose-1"}, "model": "builtin:synthpose-largest", "every": 0},
                "every: 0 is outside",
            ),
            (
                {"video": {"clip": "synthpose-1"}, "model": "builtin:synthpose-largest", "backend": "tpu"},
                "backend 'tpu'",
            ),
        ]
        for request, expected in cases:
            response = client.post("/api/jobs", json=request)
            assert response.status_code == 400 and expected in response.json()["error"], response.text
        assert client.get("/api/jobs/0123").status_code == 404
        # what a page of another site could send without a preflight is refused
        response = client.post("/api/jobs", content=json.dumps(cases[0][0]), headers={"Content-Type": "text/plain"})
        assert response.status_code == 400 and "application/json" in response.json()["error"]
        response = client.post("/api/uploads?kind=video", content=video.read_bytes())
        assert response.status_code == 400 and "X-File-Name" in response.json()["error"]
        # a network removed after the page listed it: the job fails with the runtime's one-line error, named
        model = _model(client, "gone.pth")
        (doomed / "gone.pth").unlink()
        job = client.post("/api/jobs", json={"video": {"clip": "synthpose-1"}, "model": model}).json()["job"]
        failed = _events(client, job)[-1]
        assert failed["type"] == "failed" and "gone.pth" in failed["message"] and "\n" not in failed["message"]


def test_jobs_run_at_once_and_the_server_stays_responsive(serve_runs, synthpose_video, tmp_path) -> None:
    video, truth, count = synthpose_video
    frames = video.parent / "clip-frames"
    if not frames.is_dir():
        frames.mkdir()
        capture = cv2.VideoCapture(str(video))
        for index in range(count):
            cv2.imwrite(str(frames / f"{index:06d}.jpg"), capture.read()[1])
    write_video(frames, tmp_path / "long.mp4", repeat=12)
    repeat_truth(truth, tmp_path / "long.json", repeat=12)
    with _client(serve_runs, tmp_path, workers=2) as client:
        long_job = client.post("/api/jobs", json={
            "video": {"upload": _upload(client, tmp_path / "long.mp4").json()["upload"]},
            "boxes": _upload(client, tmp_path / "long.json", "boxes").json()["upload"],
            "model": "builtin:synthpose-largest"}).json()["job"]  # fmt: skip
        short_job = client.post(
            "/api/jobs", json={"video": {"clip": "synthpose-1"}, "model": "builtin:synthpose-largest"}
        )
        short = _events(client, short_job.json()["job"])
        began = time.perf_counter()
        long_state = client.get(f"/api/jobs/{long_job}").json()
        assert time.perf_counter() - began < 1.0  # the event loop answers while two jobs run
        assert short[-1]["frames"] == 6 and long_state["state"] == "running" and long_state["frames_done"] > 0
        assert _events(client, long_job)[-1]["frames"] == 12 * count


def test_no_temporary_file_is_left_behind(serve_runs, synthpose_video, tmp_path) -> None:
    video, truth, _ = synthpose_video
    parent = tmp_path / "tmp"
    parent.mkdir()
    stale = parent / "vipnas-serve-stale"  # a killed server's folder: its owner process is gone
    stale.mkdir()
    (stale / "owner.pid").write_text(str(_dead_pid()))
    with _client(serve_runs, tmp_path) as client:
        assert not stale.exists()
        server = client.app.state.server
        job = client.post("/api/jobs", json={
            "video": {"upload": _upload(client, video).json()["upload"]},
            "boxes": _upload(client, truth, "boxes").json()["upload"], "model": "builtin:synthpose-largest",
            "backend": "onnxruntime"}).json()["job"]  # fmt: skip
        assert _events(client, job)[-1]["type"] == "done"
        assert list((server.folder / "uploads").iterdir()) == []  # the job's uploads went when it ended
        assert client.get(f"/api/jobs/{job}/files/video").status_code == 200  # its outputs stay to download
        _upload(client, video)  # an upload no job took
        client.delete(f"/api/jobs/{job}")
        assert not (server.folder / "jobs" / job).exists()
    assert list(parent.iterdir()) == []


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_search_api_gives_points_fronts_figures_and_the_extract_command(serve_runs, tmp_path) -> None:
    with _client(serve_runs, tmp_path, clips=0) as client:
        found = {s["label"].rsplit("/", 1)[-1]: s["id"] for s in client.get("/api/searches").json()["searches"]}
        spatial = client.get(f"/api/searches/{found['search-spatial']}").json()
        rows = json.loads((serve_runs / "search-spatial" / "candidates.json").read_text())["candidates"]
        candidates = [Candidate.from_dict(row) for row in rows]
        for cost, flag in (("macs", "pareto_macs"), ("latency_ms", "pareto_latency")):
            front = {candidates.index(c) for c in pareto_front(candidates, cost, "AP")}
            assert {p["index"] for p in spatial["candidates"] if p[flag]} == front
        assert spatial["latency"] and spatial["kind"] == "spatial"
        base = f"/api/searches/{found['search-spatial']}/candidates"
        best = client.get(f"{base}/{spatial['best']}").json()
        assert best["command"].startswith("vipnas extract ") and "best_arch.json --out searched.pth" in best["command"]
        assert best["supernet"].endswith("synthpose_tiny_supernet.pth")
        other = next(p["index"] for p in spatial["candidates"] if p["index"] != spatial["best"])
        command = client.get(f"{base}/{other}").json()["command"]
        script = command.rsplit("\n", 1)[0]  # the heredoc writing the arch file, without the extraction
        subprocess.run(["bash", "-c", script], cwd=tmp_path, check=True)
        from vipnas.space.arch import load_arch

        assert load_arch(tmp_path / f"candidate_{other}_arch.json") == candidates[other].arch
        assert client.get(f"{base}/{other}/figure.png").content[:8] == b"\x89PNG\r\n\x1a\n"
        assert client.get(f"{base}/{other}/arch.json").json() == rows[other]["arch"]
        assert client.get(f"{base}/99").status_code == 400
        temporal = client.get(f"/api/searches/{found['search-temporal']}").json()
        assert temporal["kind"] == "temporal" and temporal["objective"] == "Total" and not temporal["latency"]
        detail = client.get(f"/api/searches/{found['search-temporal']}/candidates/0").json()
        assert [f["frame"] for f in detail["frames"]] == ["key", "t1", "t2"] and detail["command"] is None
        assert round(sum(f["macs"] for f in detail["frames"]) / 3) == detail["macs"]
        figure = client.get(f"/api/searches/{found['search-temporal']}/candidates/0/figure.png")
        assert figure.headers["content-type"] == "image/png"


def test_serve_binds_localhost_by_default_and_its_parser_stays_light(serve_runs, tmp_path) -> None:
    from vipnas.cli import build_parser
    from vipnas.commands.serve import _loopback

    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port, args.runs) == ("127.0.0.1", 8000, None)
    assert _loopback("127.0.0.1") and _loopback("localhost") and _loopback("::1") and not _loopback("0.0.0.0")
    hosts = ("127.0.0.1", "localhost")
    with _client(serve_runs, tmp_path, clips=0, allowed_hosts=hosts) as client:  # DNS rebinding: another Host
        assert TestClient(client.app, base_url="http://attacker.example").get("/api/choices").status_code == 400
        assert TestClient(client.app, base_url="http://localhost:8000").get("/").status_code == 200
    heavy = "('starlette', 'uvicorn', 'torch')"
    code = ("import sys; from vipnas.cli import build_parser; build_parser().parse_args(['serve']); "
            f"print(sorted(n for n in sys.modules if n.split('.')[0] in {heavy}))")  # fmt: skip
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ)
    assert loaded.stdout.strip() == "[]"
