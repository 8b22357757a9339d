"""Prompt pieces as MMAD builds them, and reading letters out of answers."""
from __future__ import annotations

from PIL import Image

from adlab.pipelines.mmad.answers import answers_filename, parse_letter
from adlab.pipelines.mmad.data import Question
from adlab.pipelines.mmad.parsing import split_batch_answer as _split
from adlab.pipelines.mmad.prompting import (ImagePart, build_request, describe_ad, follow_up,
                                            format_question, load_image)


def split_batch_answer(text, n):
    return [p.letter for p in _split(text, n)]

Q = Question(image="DS/c/test/bad/0.png", index=0, text="Is there a defect?",
             options={"A": "Yes.", "B": "No."}, answer="A", type="Anomaly Detection")


def test_images_shrink_to_max_size_keeping_aspect(tmp_path):
    path = tmp_path / "wide.png"
    Image.new("RGB", (1000, 400), (1, 2, 3)).save(path)
    assert load_image(path, (512, 512)).image.size == (512, 204)
    assert load_image(path, (2000, 2000)).image.size == (1000, 400)  # never enlarged
    part = load_image(path, (100, 100))
    assert part.jpeg()[:2] == b"\xff\xd8" and part.base64()


def test_request_layout_options_and_history():
    img = ImagePart(Image.new("RGB", (8, 8)), "x")
    [msg] = build_request([img, img], img, [Q], "AD says normal.", batch=False)
    texts = [p for p in msg.parts if isinstance(p, str)]
    assert sum(isinstance(p, ImagePart) for p in msg.parts) == 3
    assert "2 image(s) show normal samples" in msg.text and texts[-2] == "AD says normal."
    assert texts[-1] == "Question: Is there a defect?\nA. Yes.\nB. No."
    [batch] = build_request([], img, [Q, Q], None, batch=True)
    assert "1. Question:" in batch.text and "2. Question:" in batch.text
    turns = follow_up([msg], "A", Q)
    assert [m.role for m in turns] == ["user", "assistant", "user"]
    assert format_question(Q, 3).startswith("3. Question:")


def test_ad_findings_text():
    text = describe_ad({"anomaly_score": 3.14159, "is_anomaly": True, "threshold_used": 3.43,
                        "defect_location": {"has_defect": True, "region": "center",
                                            "bbox": [100, 50, 200, 150], "area_ratio": 0.12},
                        "metadata": {"model_type": "patchcore"}}, image_hw=(300, 400))
    assert "(patchcore)" in text and "3.142" in text and "ANOMALOUS" in text
    assert "center" in text and "[100, 50, 200, 150]" in text and "12.0%" in text
    normal = describe_ad({"anomaly_score": 1.0, "is_anomaly": False, "threshold_used": 2.0,
                          "defect_location": {"has_defect": False}})
    assert "NORMAL" in normal and "region" not in normal


def test_letters_and_batch_replies():
    assert parse_letter("Answer: B.") == "B" and parse_letter("A or rather C") == "C"
    assert parse_letter("I am not sure") is None
    assert split_batch_answer("1. Answer: B.\n2. Answer: A.\n3) (C) a crack", 3) == ["B", "A", "C"]
    assert split_batch_answer("1. Answer: B.", 2) == ["B", None]
    assert split_batch_answer("B\nA", 2) == ["B", "A"]
    assert split_batch_answer("no idea", 2) == [None, None]
    assert answers_filename(1, "qwen", True, "patchcore") == \
        "answers_1_shot_qwen_Similar_template_with_patchcore.json"
    assert answers_filename(0, "/models/Qwen2.5-VL/", False, None) == \
        "answers_0_shot_Qwen2.5-VL_Random_template.json"
