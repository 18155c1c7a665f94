"""The Device menu: one entry per GPU when several CUDA GPUs exist (the device list is faked
here), a chosen GPU is used and remembered, one that fails is explained and unticked."""

import torch

import cisr_zoom.app.main_window as mw


def _fake_gpus(monkeypatch, gpus):
    monkeypatch.setattr(mw, "available_devices", lambda: ["cuda", "cpu"] if gpus else ["cpu"])
    monkeypatch.setattr(mw, "cuda_devices", lambda: list(gpus))


def _menu(win):
    return [(a.data(), a.text(), a.isEnabled()) for a in win.device_group.actions()]


def _window(qtbot, tiny_checkpoints, device="cpu"):
    from cisr_zoom.app.model_catalog import ModelCatalog
    from cisr_zoom.app.settings import Settings
    settings = Settings.load()
    settings["device"] = device
    win = mw.MainWindow(settings, catalog=ModelCatalog(bundled={}, user_paths=tiny_checkpoints), settle_ms=10)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.bridge.device_name == device or win.last_message_box is not None, timeout=20000)
    return win


def test_several_gpus_get_one_entry_each(qtbot, tiny_checkpoints, monkeypatch):
    _fake_gpus(monkeypatch, [("cuda:0", "Fake A"), ("cuda:1", "Fake B")])
    win = _window(qtbot, tiny_checkpoints)
    assert _menu(win) == [("auto", "&Automatic", True), ("cpu", "&CPU", True),
                          ("cuda:0", "CUDA GPU &0: Fake A", True), ("cuda:1", "CUDA GPU &1: Fake B", True),
                          ("mps", "&MPS (Apple GPU)", False)]
    assert [a.data() for a in win.device_group.actions() if a.isChecked()] == ["cpu"]

    # the chosen GPU is what the render worker is asked for; here torch has none, so it fails,
    # is explained, and the menu ticks the device still in use
    asked = []
    real = mw.RenderBridge.set_device

    async def spy(self, name, exact_float32=None):
        asked.append(name)
        await real(self, name, exact_float32)

    monkeypatch.setattr(mw.RenderBridge, "set_device", spy)
    gpu1 = next(a for a in win.device_group.actions() if a.data() == "cuda:1")
    gpu1.trigger()
    qtbot.waitUntil(lambda: win.last_message_box is not None, timeout=20000)
    assert asked == ["cuda:1"]
    if not torch.cuda.is_available():
        assert "'cuda:1' is not available" in win.last_message_box.text()
        assert [a.data() for a in win.device_group.actions() if a.isChecked()] == ["cpu"]
        assert win.settings["device"] == "cpu"
    win.close()


def test_a_chosen_gpu_is_remembered(qtbot, tiny_checkpoints, monkeypatch):
    from cisr_zoom.core import devices
    _fake_gpus(monkeypatch, [("cuda:0", "Fake A"), ("cuda:1", "Fake B")])
    win = _window(qtbot, tiny_checkpoints)
    real = devices.pick_device
    monkeypatch.setattr(devices, "pick_device", lambda name="auto": real("cpu") if name == "cuda:1" else real(name))
    next(a for a in win.device_group.actions() if a.data() == "cuda:1").trigger()
    qtbot.waitUntil(lambda: win.settings["device"] == "cuda:1", timeout=20000)
    assert [a.data() for a in win.device_group.actions() if a.isChecked()] == ["cuda:1"]
    win._check_device_action("cuda")          # plain "cuda" (e.g. from older settings) is the first GPU
    assert [a.data() for a in win.device_group.actions() if a.isChecked()] == ["cuda:0"]
    win.close()


def test_one_gpu_keeps_the_plain_cuda_entry(qtbot, tiny_checkpoints, monkeypatch):
    _fake_gpus(monkeypatch, [("cuda:0", "Fake A")])
    win = _window(qtbot, tiny_checkpoints)
    assert ("cuda", "CU&DA (NVIDIA GPU)", True) in _menu(win)
    assert not any(str(d).startswith("cuda:") for d, _, _ in _menu(win))
    win.close()


def test_no_gpu_disables_cuda(qtbot, tiny_checkpoints, monkeypatch):
    _fake_gpus(monkeypatch, [])
    win = _window(qtbot, tiny_checkpoints)
    assert ("cuda", "CU&DA (NVIDIA GPU)", False) in _menu(win)
    win.close()
