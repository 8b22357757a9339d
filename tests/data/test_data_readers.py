"""Dataset readers: tiny fixture trees in each real layout, read back through the registry."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from adlab.data import (
    dataset_root,
    list_categories,
    list_datasets,
    load_category,
    load_folder,
    load_image,
    load_loco_defects_config,
    load_mask,
    load_mask_values,
    resolve_categories,
)
from adlab.errors import AdlabError, ConfigError, NotFoundError


def img(path: Path, value: int = 128, size: tuple[int, int] = (8, 8)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((*size, 3), value, np.uint8)).save(path)
    return path


def mask(path: Path, pixels: list[tuple[int, int]], value: int = 255, size: tuple[int, int] = (8, 8)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.zeros(size, np.uint8)
    for y, x in pixels:
        arr[y, x] = value
    Image.fromarray(arr).save(path)
    return path


def mvtec_tree(root: Path, category: str = "bottle", ext: str = ".png", mask_name: str = "{stem}_mask.png") -> Path:
    for i in range(3):
        img(root / category / "train" / "good" / f"{i:03d}{ext}")
    img(root / category / "test" / "good" / f"000{ext}")
    for defect in ("broken", "crack"):
        for i in range(2):
            img(root / category / "test" / defect / f"{i:03d}{ext}", 30)
            mask(root / category / "ground_truth" / defect / mask_name.format(stem=f"{i:03d}"), [(i, i)])
    return root


def test_registry_names():
    assert list_datasets() == ["mvtec_ad", "visa", "mpdd", "mvtec_loco", "goodsad", "folder", "synthetic"]


@pytest.mark.parametrize("dataset", ["mvtec_ad", "mpdd", "synthetic"])
def test_mvtec_style_layout(tmp_path, dataset):
    root = mvtec_tree(tmp_path / "mv")
    (root / "readme.txt").write_text("not a category")
    assert list_categories(dataset, root) == ["bottle"]
    data = load_category(dataset, root, "bottle")
    assert (data.dataset, data.category, data.root) == (dataset, "bottle", root)
    assert [s.image_path.name for s in data.train] == ["000.png", "001.png", "002.png"]
    assert all(s.split == "train" and s.label == 0 and s.defect_type == "good" for s in data.train)
    assert data.defect_types == ["broken", "crack"]
    bad = [s for s in data.test if s.label == 1]
    assert len(bad) == 4 and all(len(s.mask_paths) == 1 and s.mask_paths[0].stem.endswith("_mask") for s in bad)
    assert data.counts()["test_good"] == 1 and data.counts()["defect_types"] == {"broken": 2, "crack": 2}
    sample = next(s for s in bad if s.image_path.stem == "001")
    m = load_mask(sample)
    assert m.dtype == np.uint8 and m.sum() == 1 and m[1, 1] == 1


def test_goodsad_jpg_images_with_same_stem_png_masks(tmp_path):
    root = mvtec_tree(tmp_path / "GoodsAD", "drink_can", ext=".jpg", mask_name="{stem}.png")
    data = load_category("goodsad", root, "drink_can")
    bad = [s for s in data.test if s.label]
    assert len(bad) == 4 and all(s.image_path.suffix == ".jpg" and s.mask_paths[0].suffix == ".png" for s in bad)
    assert load_image(bad[0].image_path).shape == (8, 8, 3)


def test_missing_mask_names_the_image_and_the_expected_file(tmp_path):
    root = mvtec_tree(tmp_path / "mv")
    (root / "bottle" / "ground_truth" / "crack" / "001_mask.png").unlink()
    with pytest.raises(NotFoundError) as err:
        load_category("mvtec_ad", root, "bottle")
    message = str(err.value)
    assert "test/crack/001.png has no mask" in message and "ground_truth/crack/001_mask.png" in message


def test_missing_train_folder_and_unknown_category_errors(tmp_path):
    root = mvtec_tree(tmp_path / "mv")
    mvtec_tree(root, "cable")
    with pytest.raises(NotFoundError) as err:
        load_category("mvtec_ad", root, "bottel")
    assert "no category 'bottel'" in str(err.value) and "bottle, cable" in str(err.value)
    (root / "cable" / "train" / "good" / "000.png").unlink()
    (root / "cable" / "train" / "good" / "001.png").unlink()
    (root / "cable" / "train" / "good" / "002.png").unlink()
    (root / "cable" / "train" / "good").rmdir()
    with pytest.raises(NotFoundError) as err:
        load_category("mvtec_ad", root, "cable")
    assert f"dataset 'mvtec_ad' at {root}: category 'cable' has no train/good folder" in str(err.value)
    assert f"{root}/cable/train/good/*.png" in str(err.value)
    with pytest.raises(NotFoundError, match="the folder does not exist"):
        list_categories("mvtec_ad", tmp_path / "nowhere")
    with pytest.raises(NotFoundError, match="unknown dataset 'mvtec'.*mvtec_ad"):
        load_category("mvtec", root, "bottle")


def test_resolve_categories(tmp_path):
    root = mvtec_tree(tmp_path / "mv")
    mvtec_tree(root, "cable")
    assert resolve_categories("mvtec_ad", root, None) == ["bottle", "cable"]
    assert resolve_categories("mvtec_ad", root, "all") == ["bottle", "cable"]
    assert resolve_categories("mvtec_ad", root, "cable,bottle,cable") == ["cable", "bottle"]
    assert resolve_categories("mvtec_ad", root, ["cable"]) == ["cable"]
    with pytest.raises(NotFoundError) as err:
        resolve_categories("mvtec_ad", root, ["cable", "screw"])
    assert "'screw'" in str(err.value) and "categories found: bottle, cable" in str(err.value)


def visa_raw(root: Path) -> Path:
    rows = ["object,split,label,image,mask"]
    for i in range(2):
        rel = f"candle/Data/Images/Normal/{i:04d}.JPG"
        img(root / rel)
        rows.append(f"candle,train,normal,{rel},")
    img(root / "candle/Data/Images/Normal/0100.JPG")
    rows.append("candle,test,normal,candle/Data/Images/Normal/0100.JPG,")
    img(root / "candle/Data/Images/Anomaly/000.JPG", 20)
    mask(root / "candle/Data/Masks/Anomaly/000.png", [(2, 3), (4, 4)], value=1)  # raw VisA: small values
    rows.append("candle,test,anomaly,candle/Data/Images/Anomaly/000.JPG,candle/Data/Masks/Anomaly/000.png")
    img(root / "pcb1/Data/Images/Normal/0000.JPG")
    rows.append("pcb1,train,normal,pcb1/Data/Images/Normal/0000.JPG,")
    (root / "split_csv").mkdir(parents=True)
    (root / "split_csv" / "1cls.csv").write_text("\n".join(rows) + "\n")
    return root


def test_visa_raw_csv_layout_binarises_masks(tmp_path):
    root = visa_raw(tmp_path / "VisA")
    assert list_categories("visa", root) == ["candle", "pcb1"]
    data = load_category("visa", root, "candle")
    assert len(data.train) == 2 and len(data.test) == 2
    bad = [s for s in data.test if s.label]
    assert [s.defect_type for s in bad] == ["bad"]
    m = load_mask(bad[0], size=(16, 16))
    assert m.shape == (16, 16) and set(np.unique(m)) == {0, 1} and m.sum() == 8  # 2 px, nearest x2


def test_visa_raw_csv_errors(tmp_path):
    root = visa_raw(tmp_path / "VisA")
    (root / "candle/Data/Masks/Anomaly/000.png").unlink()
    with pytest.raises(NotFoundError, match="lists candle/Data/Masks/Anomaly/000.png .*does not exist"):
        load_category("visa", root, "candle")
    (root / "split_csv" / "1cls.csv").write_text("object,split,image\ncandle,train,x.JPG\n")
    with pytest.raises(AdlabError, match="lacks the column"):
        list_categories("visa", root)
    with pytest.raises(NotFoundError, match="split_csv/1cls.csv"):
        list_categories("visa", tmp_path)


def test_visa_converted_layout(tmp_path):
    root = tmp_path / "visa"
    converted = mvtec_tree(root / "visa_pytorch", "capsules", ext=".JPG", mask_name="{stem}.png")
    assert list_categories("visa", root) == ["capsules"]
    data = load_category("visa", root, "capsules")
    assert data.root == root and len(data.train) == 3 and all(s.mask_paths for s in data.test if s.label)
    assert load_category("visa", converted, "capsules").test == data.test  # the tree given directly


def loco_tree(root: Path) -> Path:
    cat = root / "juice_bottle"
    img(cat / "train" / "good" / "000.png")
    img(cat / "validation" / "good" / "000.png")
    img(cat / "test" / "good" / "000.png")
    img(cat / "test" / "logical_anomalies" / "000.png", 10)
    mask(cat / "ground_truth" / "logical_anomalies" / "000" / "000.png", [(0, 0), (0, 1)], value=255)
    mask(cat / "ground_truth" / "logical_anomalies" / "000" / "001.png", [(5, 5)], value=254)
    img(cat / "test" / "structural_anomalies" / "000.png", 10)
    mask(cat / "ground_truth" / "structural_anomalies" / "000" / "000.png", [(3, 3)], value=253)
    img(cat / "test" / "structural_anomalies" / "001.png", 10)  # no mask folder: allowed for LOCO
    (cat / "defects_config.json").write_text(json.dumps([
        {"defect_name": "missing_bottle", "pixel_value": 255, "saturation_threshold": 1.0, "relative_saturation": True},
        {"defect_name": "contamination", "pixel_value": 253, "saturation_threshold": 2000, "relative_saturation": False},
    ]))
    return root


def test_loco_validation_split_and_multi_mask_union(tmp_path):
    root = loco_tree(tmp_path / "MVTec_LOCO")
    data = load_category("mvtec_loco", root, "juice_bottle")
    assert [s.split for s in data.val] == ["val"] and len(data.train) == 1
    logical = next(s for s in data.test if s.defect_type == "logical_anomalies")
    assert [p.name for p in logical.mask_paths] == ["000.png", "001.png"]
    union = load_mask(logical)
    assert union.sum() == 3 and union[0, 0] == union[0, 1] == union[5, 5] == 1
    assert [int(v.max()) for v in load_mask_values(logical)] == [255, 254]
    unmasked = next(s for s in data.test if s.image_path.name == "001.png")
    assert unmasked.label == 1 and unmasked.mask_paths == () and not load_mask(unmasked).any()


def test_loco_defects_config(tmp_path):
    root = loco_tree(tmp_path / "MVTec_LOCO")
    table = load_loco_defects_config(root, "juice_bottle")
    assert table[1] == {"defect_name": "contamination", "pixel_value": 253,
                        "saturation_threshold": 2000.0, "relative_saturation": False}
    (root / "juice_bottle" / "defects_config.json").write_text('[{"pixel_value": 1}]')
    with pytest.raises(AdlabError, match="entry 0 lacks saturation_threshold"):
        load_loco_defects_config(root, "juice_bottle")
    with pytest.raises(NotFoundError, match="no defects_config.json"):
        load_loco_defects_config(root, "pushpins")


def folder_tree(root: Path, n_normal: int = 10) -> Path:
    for i in range(n_normal):
        img(root / "normal" / f"n{i:02d}.png", i)
    for i in range(3):
        img(root / "fault" / f"f{i}.png", 200)
        mask(root / "gt" / (f"f{i}_mask.png" if i % 2 else f"f{i}.png"), [(1, 1)])
    return root


def test_folder_layout_split_is_deterministic_and_seeded(tmp_path):
    root = folder_tree(tmp_path / "hdmap")
    a = load_folder(root, normal_dir="normal", abnormal_dir="fault", mask_dir="gt", test_split_ratio=0.3, seed=1)
    b = load_folder(root, normal_dir="normal", abnormal_dir="fault", mask_dir="gt", test_split_ratio=0.3, seed=1)
    c = load_folder(root, normal_dir="normal", abnormal_dir="fault", mask_dir="gt", test_split_ratio=0.3, seed=2)
    assert a == b and len(a.train) == 7 and len(a.test) == 3 + 3
    assert {s.image_path for s in a.train}.isdisjoint(s.image_path for s in a.test)
    assert {s.image_path for s in a.train} != {s.image_path for s in c.train}
    bad = [s for s in a.test if s.label]
    assert all(s.defect_type == "fault" and len(s.mask_paths) == 1 for s in bad)


def test_folder_layout_options(tmp_path):
    root = folder_tree(tmp_path / "hdmap")
    img(root / "normal_held" / "h0.png")
    data = load_folder(root, normal_dir="normal", normal_test_dir="normal_held", abnormal_dir="fault")
    assert len(data.train) == 10 and [s.image_path.name for s in data.test if not s.label] == ["h0.png"]
    assert all(s.mask_paths == () for s in data.test)  # masks are optional for the folder layout
    (root / "gt" / "f2.png").unlink()
    with pytest.raises(NotFoundError, match="f2.png has no mask in mask_dir"):
        load_folder(root, normal_dir="normal", abnormal_dir="fault", mask_dir="gt")
    with pytest.raises(NotFoundError, match="normal_dir='nope' is not a folder"):
        load_folder(root, normal_dir="nope")


def test_folder_layout_through_registry(tmp_path):
    root = tmp_path / "domains"
    for domain in ("domain_A", "domain_B"):
        for i in range(5):
            img(root / domain / "good" / f"{i}.png")
        img(root / domain / "bad" / "0.png", 0)
        mask(root / domain / "masks" / "0_mask.png", [(0, 0)])
    assert list_categories("folder", root) == ["domain_A", "domain_B"]
    data = load_category("folder", root, "domain_B")
    assert data.category == "domain_B" and len(data.train) == 4 and len(data.test) == 2
    assert next(s for s in data.test if s.label).mask_paths[0].name == "0_mask.png"
    assert load_category("folder", root, "domain_B", test_split_ratio=0.0).test[0].label == 1
    with pytest.raises(ConfigError, match="does not take the option.*normal_dir"):
        load_category("mvtec_ad", root, "domain_B", normal_dir="good")


def test_load_image_converts_and_resizes(tmp_path):
    gray16 = tmp_path / "g16.png"
    Image.fromarray(np.full((6, 10), 65535, np.uint16)).save(gray16)
    out = load_image(gray16)
    assert out.shape == (6, 10, 3) and out.dtype == np.uint8 and out.max() == 255
    assert load_image(gray16, size=(3, 5)).shape == (3, 5, 3)
    with pytest.raises(NotFoundError, match="does not exist"):
        load_image(tmp_path / "missing.png")
    (tmp_path / "broken.png").write_bytes(b"not an image")
    with pytest.raises(AdlabError, match="cannot read image"):
        load_image(tmp_path / "broken.png")


def test_dataset_root_from_config_or_env(tmp_path, monkeypatch):
    (tmp_path / "MVTec-AD").mkdir()
    monkeypatch.setenv("ADLAB_DATA_ROOT", str(tmp_path))
    assert dataset_root(None, "mvtec_ad") == tmp_path / "MVTec-AD"
    assert dataset_root(tmp_path / "MVTec-AD", "visa") == tmp_path / "MVTec-AD"
    with pytest.raises(NotFoundError, match="has no folder for dataset 'visa'; expected one of VisA"):
        dataset_root(None, "visa")
    with pytest.raises(NotFoundError, match="does not exist; fix data_root"):
        dataset_root(tmp_path / "nope", "visa")
    monkeypatch.delenv("ADLAB_DATA_ROOT")
    with pytest.raises(NotFoundError, match="ADLAB_DATA_ROOT"):
        dataset_root(None, "mvtec_ad")
