"""Audio and video evidence (issue 16): known by content like every other type, with their own size limit, and
an upload form that lets a phone take a photo or record audio or video."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from lti_tool.portfolio.evidence.file_checks import check_upload
from lti_tool.portfolio.evidence.upload_errors import UploadRefused
from lti_tool.portfolio.models import EvidenceFile, StoredFile
from lti_tool.store.db import db
from tests import factories as f
from tests.conftest import make_test_app
from tests.lti_helpers import TestPlatform
from tests.portfolio_helpers import Browser

CUSTOM = {"certification": "TSTCERT", "route": "training"}
FRAMES = b"\x00" * 600

SAMPLES = {
    "voice.mp3": (b"ID3\x04\x00\x00\x00\x00\x00\x0a" + b"\xff\xfb\x90\x64" + FRAMES, "audio/mpeg"),
    "frames.mp3": (b"\xff\xfb\x90\x64" + FRAMES, "audio/mpeg"),
    "memo.m4a": (b"\x00\x00\x00\x1cftypM4A \x00\x00\x00\x00M4A mp42isom" + FRAMES, "audio/mp4"),
    "android.m4a": (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + FRAMES, "video/mp4"),
    "clip.aac": (b"\xff\xf1\x50\x80\x02\x1f\xfc" + FRAMES, "audio/aac"),
    "room.wav": (b"RIFF\x24\x08\x00\x00WAVEfmt \x10\x00\x00\x00" + FRAMES, "audio/wav"),
    "talk.ogg": (b"OggS\x00\x02" + FRAMES, "audio/ogg"),
    "take.flac": (b"fLaC\x00\x00\x00\x22" + FRAMES, "audio/flac"),
    "call.amr": (b"#!AMR\n" + FRAMES, "audio/amr"),
    "site.mp4": (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + FRAMES, "video/mp4"),
    "iphone.mov": (b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  " + FRAMES, "video/quicktime"),
    "screen.webm": (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm" + FRAMES, "video/webm"),
    "long.mkv": (b"\x1a\x45\xdf\xa3\xa3\x42\x86\x81\x01\x42\x82\x88matroska" + FRAMES, "video/x-matroska"),
    "old.3gp": (b"\x00\x00\x00\x14ftyp3gp4\x00\x00\x02\x00isom" + FRAMES, "video/3gpp"),
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_audio_and_video_are_known_by_content(name):
    content, media_type = SAMPLES[name]
    checked = check_upload(io.BytesIO(content), name)
    assert checked.file_type.media_type == media_type and checked.file_type.media
    assert checked.filename == name
    # Without an extension the name gets the type's own.
    assert check_upload(io.BytesIO(content), "recording").filename.startswith("recording.")


def test_media_named_as_another_type_or_text_named_as_media_is_refused():
    with pytest.raises(UploadRefused, match="content is a MP4 video"):
        check_upload(io.BytesIO(SAMPLES["site.mp4"][0]), "site.mp3")
    with pytest.raises(UploadRefused, match="named as a .mp4 file"):
        check_upload(io.BytesIO(b"just words, no video\n"), "clip.mp4")
    with pytest.raises(UploadRefused):  # an EBML file that is neither WebM nor Matroska
        check_upload(io.BytesIO(b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84abcd" + FRAMES), "x.webm")
    # Text that merely starts with "ID3" stays text.
    assert check_upload(io.BytesIO(b"ID3 notes on the site visit\n"), "notes.txt").file_type.media_type == "text/plain"


@pytest.fixture
def media_app(backend, tmp_path, keys_dir):
    app = make_test_app(backend, tmp_path, keys_dir, MAX_UPLOAD_MB=1, MAX_MEDIA_UPLOAD_MB=2)
    with app.app_context():
        yield app
        db.session.remove()
        if backend == "postgresql":
            db.engine.dispose()


def test_media_have_their_own_limit_through_the_evidence_form(media_app, jwks_server):
    app = media_app
    platform = TestPlatform(jwks_server)
    f.make_certification("TSTCERT")
    ada = Browser(app, platform, "ada", custom=CUSTOM)
    portfolio = ada.start()
    video = SAMPLES["site.mp4"][0] + b"\x00" * (1024 * 1024 + 500_000)  # 1.5 MB: over the document limit
    files = [(video, "site visit.mp4"), (SAMPLES["voice.mp3"][0], "voice.mp3")]
    resp = ada.add_item(portfolio.id, files=files, criteria=[])
    assert resp.status_code == 303, resp.data
    stored = {ef.filename: ef.stored.media_type for ef in db.session.scalars(select(EvidenceFile))}
    assert stored == {"site visit.mp4": "video/mp4", "voice.mp3": "audio/mpeg"}
    # The assessor downloads it as what it is.
    ef = db.session.scalar(select(EvidenceFile).where(EvidenceFile.filename == "site visit.mp4"))
    download = ada.get(f"/portfolio/{portfolio.id}/evidence/{ef.item_id}/files/{ef.id}")
    assert download.status_code == 200 and download.mimetype == "video/mp4" and download.data == video
    # A document of the same size is over its own limit; a video over the media limit is refused by name.
    pdf = f.PDF + b"0" * (1024 * 1024 + 500_000)
    resp = ada.add_item(portfolio.id, files=[(pdf, "scan.pdf")], criteria=[])
    assert resp.status_code == 413 and b"larger than the limit of 1 MB per file" in resp.data
    long = SAMPLES["iphone.mov"][0] + b"\x00" * (2 * 1024 * 1024 + 10)
    resp = ada.add_item(portfolio.id, files=[(long, "long.mov")], criteria=[])
    assert resp.status_code == 413 and b"larger than the limit of 2 MB per file" in resp.data
    assert b"Record a shorter clip" in resp.data
    assert db.session.scalar(select(StoredFile).where(StoredFile.media_type == "video/quicktime")) is None


def test_upload_form_offers_phone_capture_of_photos_audio_and_video(media_app, jwks_server):
    platform = TestPlatform(jwks_server)
    f.make_certification("TSTCERT")
    ada = Browser(media_app, platform, "ada", custom=CUSTOM)
    portfolio = ada.start()
    page = ada.get(f"/portfolio/{portfolio.id}/evidence/new").data.decode()
    assert 'id="capture-photo" name="files" accept="image/*" capture="environment"' in page
    assert 'id="capture-audio" name="files" accept="audio/*" capture="user"' in page
    assert 'id="capture-video" name="files" accept="video/*" capture="environment"' in page
    general = page.split('id="field-upload"')[1].split(">")[0]
    for wanted in ("video/mp4", "audio/mpeg", ".mov", ".m4a", "application/pdf", ".docx"):
        assert wanted in general
    assert "2 MB for\n      audio and video" in page or "2 MB for audio and video" in " ".join(page.split())
