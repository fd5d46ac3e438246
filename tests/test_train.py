"""The fold-batched trainer: equal to plain per-fold torch training, deterministic, early stopping, masks, resume."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
import torch
from torch import nn

from vixray.config import ModelConfig, TrainConfig
from vixray.models.lstm import LSTMClassifier
from vixray.train import EpochReport, FoldTrainer, fit_folds, order_rng, resolve_device
from vixray.windows import FoldWindows, make_fold_windows

SEQ, C = 3, 3


def table(rows: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Features whose last value drives the label, plus label noise: learnable, not trivially."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, C))
    y = np.digitize(X[:, 0] + 0.5 * rng.standard_normal(rows), [-0.4, 0.4]).astype(np.int64)
    return X, y


def fold_windows(sizes=(40, 52, 30), *, val_fraction=0.25, seed=0, rows=120, **kw) -> FoldWindows:
    """Folds with training blocks of different lengths (so the shorter ones carry padding), 10-row test blocks."""
    X, y = table(rows, seed)
    folds = [(np.arange(rows - 10 - n, rows - 10), np.arange(rows - 10, rows)) for n in sizes]
    return make_fold_windows(X, y, folds, seq_len=SEQ, val_fraction=val_fraction, val_gap=1, **kw)


def model_config(**kw) -> ModelConfig:
    base = {
        "seq_len": SEQ,
        "hidden_size": 8,
        "num_layers": 2,
        "dropout": 0.0,
        "head": (6, 4),
        "head_dropout": (0.0, 0.0),
    }
    return ModelConfig(**{**base, **kw})


def train_config(**kw) -> TrainConfig:
    base = {
        "epochs": 3,
        "batch_size": 8,
        "lr": 1e-2,
        "patience": None,
        "seed": 0,
        "threads": None,
        "device": "cpu",
    }
    return TrainConfig(**{**base, **kw})


def weights(trainer: FoldTrainer, fold: int) -> list[torch.Tensor]:
    return [p.detach().clone() for p in trainer.model.to_single(fold).parameters()]


def assert_same_weights(a: list[torch.Tensor], b: list[torch.Tensor], atol: float = 0.0) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(x, y, atol=atol, rtol=0)


# ------------------------------------------------------------------------------------------------ equivalence


def test_equals_plain_torch_training_per_fold():
    """Same start, same batches: each fold ends where nn.LSTM + nn.Linear + torch.optim.Adam alone would."""
    w = fold_windows()
    n_fit = w.m_fit.sum(axis=1)
    assert len(set(n_fit)) == 3 and not np.allclose(
        w.class_weights[0], w.class_weights[1]
    )  # the test has teeth
    train = train_config(epochs=2, grad_clip=0.05, weight_decay=1e-3, class_weighting=True)
    trainer = FoldTrainer(w, model=model_config(), train=train)
    start = [trainer.model.to_single(f) for f in range(3)]
    while not trainer.done():
        trainer.run_epoch()

    clipped = 0
    for f, model in enumerate(start):
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=train.lr, weight_decay=train.weight_decay)
        criterion = nn.CrossEntropyLoss(weight=torch.from_numpy(w.class_weights[f]))
        items = np.flatnonzero(w.m_fit[f])
        rng = order_rng(train.seed, f)  # the documented batch order: one permutation of the items per epoch
        for _ in range(train.epochs):
            order = rng.permutation(items)
            for start_at in range(0, len(order), train.batch_size):
                batch = order[start_at : start_at + train.batch_size]
                opt.zero_grad()
                criterion(
                    model(torch.from_numpy(w.x_fit[f][batch])), torch.from_numpy(w.y_fit[f][batch])
                ).backward()
                clipped += (
                    float(nn.utils.clip_grad_norm_(model.parameters(), train.grad_clip)) > train.grad_clip
                )
                opt.step()
        assert_same_weights(weights(trainer, f), [p.detach() for p in model.parameters()], atol=1e-5)
    assert clipped > 0


# ------------------------------------------------------------------------------------------------ behaviour


def test_same_seed_same_metrics_other_seed_differs():
    w = fold_windows()
    cfg = model_config(dropout=0.2, head_dropout=(0.3, 0.2))
    a, b = (fit_folds(w, model=cfg, train=train_config(seed=4)) for _ in range(2))
    c = fit_folds(w, model=cfg, train=train_config(seed=5))
    for ra, rb in zip(a.history, b.history, strict=True):
        np.testing.assert_array_equal(ra.train_loss, rb.train_loss)
        np.testing.assert_array_equal(ra.val_loss, rb.val_loss)
    for pa, pb in zip(a.test_proba, b.test_proba, strict=True):
        np.testing.assert_array_equal(pa, pb)
    assert not np.array_equal(a.history[-1].val_loss, c.history[-1].val_loss)


def test_padding_contributes_nothing_and_folds_train_independently():
    """Fold 0 (shorter, padded in the stack) trains exactly as it does alone; garbage in padding changes nothing."""
    w = fold_windows(sizes=(30, 52))
    pad = ~w.m_fit
    assert pad[0].any() and not pad[1].any()
    junk = dataclasses.replace(
        w,
        x_fit=np.where(pad[:, :, None, None], np.float32(1e6), w.x_fit),
        y_fit=np.where(pad, 2, w.y_fit),
    )
    alone = dataclasses.replace(
        w,
        **{f.name: getattr(w, f.name)[:1] for f in dataclasses.fields(w)},
    )
    n = int(w.m_fit[0].sum())
    alone = dataclasses.replace(
        alone, x_fit=alone.x_fit[:, :n], y_fit=alone.y_fit[:, :n], m_fit=alone.m_fit[:, :n]
    )
    alone = dataclasses.replace(alone, rows_fit=alone.rows_fit[:, :n])
    runs = []
    for windows in (w, junk, alone):
        trainer = FoldTrainer(windows, model=model_config(), train=train_config())
        while not trainer.done():
            trainer.run_epoch()
        runs.append(weights(trainer, 0))
    assert_same_weights(runs[0], runs[1])
    assert_same_weights(runs[0], runs[2], atol=1e-6)


def test_class_weights_are_per_fold():
    w = fold_windows()
    heavy = w.class_weights.copy()
    heavy[1] = [5.0, 1.0, 0.2]
    runs = []
    for windows in (w, dataclasses.replace(w, class_weights=heavy)):
        trainer = FoldTrainer(windows, model=model_config(), train=train_config(epochs=2))
        while not trainer.done():
            trainer.run_epoch()
        runs.append([weights(trainer, f) for f in range(3)])
    assert_same_weights(runs[0][0], runs[1][0])
    assert_same_weights(runs[0][2], runs[1][2])
    assert not torch.allclose(runs[0][1][0], runs[1][1][0])


def noisy_windows() -> FoldWindows:
    """Labels unrelated to the features: with a high learning rate, validation loss soon rises in every fold."""
    w = fold_windows(sizes=(60, 60, 60), rows=160, seed=1)
    noise = np.random.default_rng(9)
    return dataclasses.replace(
        w, y_fit=noise.integers(0, 3, w.y_fit.shape), y_val=noise.integers(0, 3, w.y_val.shape)
    )


def test_early_stopping_restores_best_weights_and_freezes_the_fold():
    w = noisy_windows()
    trainer = FoldTrainer(
        w, model=model_config(hidden_size=16), train=train_config(epochs=40, lr=5e-2, patience=2)
    )
    frozen: dict[int, tuple[int, list[torch.Tensor]]] = {}  # fold -> (epoch it stopped, its weights then)
    others_moved = False
    while not trainer.done():
        before = [weights(trainer, f) for f in range(3)]
        report = trainer.run_epoch()
        for f in range(3):
            if f in frozen:
                assert not report.active[f]
                assert_same_weights(weights(trainer, f), frozen[f][1])
            elif not trainer.active[f]:
                frozen[f] = (report.epoch, weights(trainer, f))
            elif frozen:
                others_moved |= not torch.equal(before[f][1], weights(trainer, f)[1])
    assert frozen, "no fold stopped early"
    assert others_moved or len(frozen) == 3
    proba, _ = trainer.predict("val")
    for f, (stop, _) in frozen.items():
        trained = np.array(
            [r.val_loss[f] for r in trainer.history[: stop - 1]]
        )  # as trained, before the stop
        best = int(np.argmin(trained)) + 1
        assert (
            trainer.best_epoch[f] == best and stop == best + 2
        )  # patience 2: two epochs without improvement
        # the stop epoch reports the restored weights: the best validation loss, which predict() reproduces
        assert trainer.history[stop - 1].val_loss[f] == pytest.approx(trained[best - 1], abs=1e-6)
        y = w.y_val[f][w.m_val[f]]
        log_loss = -np.mean(np.log(proba[f][np.arange(len(y)), y]))
        assert log_loss == pytest.approx(trained[best - 1], abs=1e-5)


def test_callback_once_per_epoch_with_per_fold_arrays():
    w = fold_windows()
    seen: list[EpochReport] = []
    result = fit_folds(w, model=model_config(), train=train_config(epochs=3), on_epoch=seen.append)
    assert [r.epoch for r in seen] == [1, 2, 3] and result.epochs_run == 3
    assert all(a is b for a, b in zip(result.history, seen, strict=True))
    for r in seen:
        for values in (r.train_loss, r.val_loss, r.val_accuracy, r.active):
            assert values.shape == (3,)
        assert r.active.dtype == bool and r.active.all() and r.seconds > 0
        assert np.all((r.val_accuracy >= 0) & (r.val_accuracy <= 1))
        assert r.mean_val_loss == pytest.approx(float(np.mean(r.val_loss)))
        assert r.mean_val_accuracy == pytest.approx(float(np.mean(r.val_accuracy)))


def test_predictions_are_unpadded_per_fold_with_their_rows():
    w = fold_windows(sizes=(30, 52, 40))
    result = fit_folds(w, model=model_config(), train=train_config(epochs=1))
    assert result.device == "cpu" and result.best_epoch.shape == (3,)
    for f in range(3):
        n = int(w.m_test[f].sum())
        assert result.test_proba[f].shape == (n, 3) and result.test_pred[f].shape == (n,)
        np.testing.assert_allclose(result.test_proba[f].sum(axis=1), 1.0, atol=1e-12)
        np.testing.assert_array_equal(result.test_pred[f], result.test_proba[f].argmax(axis=1))
        np.testing.assert_array_equal(result.test_rows[f], w.test_rows(f))


def test_predicting_given_inputs_replaces_the_split_windows():
    w = fold_windows()
    trainer = FoldTrainer(w, model=model_config(), train=train_config(epochs=2))
    while not trainer.done():
        trainer.run_epoch()
    intact = [w.x_test[f][w.m_test[f]] for f in range(3)]
    proba, _ = trainer.predict("test")
    same, _ = trainer.predict("test", inputs=intact)
    for a, b in zip(proba, same, strict=True):
        np.testing.assert_array_equal(a, b)
    flipped, _ = trainer.predict("test", inputs=[-x for x in intact])
    assert not np.allclose(flipped[0], proba[0])
    with pytest.raises(
        ValueError, match=r"inputs have shapes \[\(10, 4\)\]: pass one array per fold shaped like"
    ):
        trainer.predict("test", inputs=[np.zeros((10, 4))])


def test_without_validation_windows_the_last_weights_are_kept():
    w = fold_windows(val_fraction=0.0)
    assert w.x_val.shape[1] == 0
    trainer = FoldTrainer(w, model=model_config(), train=train_config(epochs=3, patience=1))
    while not trainer.done():
        report = trainer.run_epoch()
        assert np.isnan(report.val_loss).all() and np.isnan(report.mean_val_loss)
    assert trainer.epoch == 3 and list(trainer.best_epoch) == [3, 3, 3]
    x = torch.from_numpy(w.x_test)
    trainer.model.eval()
    with torch.no_grad():
        live = trainer.model(x).double().softmax(-1).numpy()  # (F, N, K) with the last weights
    proba, _ = trainer.predict("test")
    for f in range(3):
        np.testing.assert_allclose(proba[f], live[f][w.m_test[f]], atol=1e-6)


def test_epoch_limits_stop_each_fold_at_its_own_count_as_if_trained_alone():
    w = fold_windows(val_fraction=0.0)
    limits = np.array([1, 3, 2])
    trainer = FoldTrainer(w, model=model_config(), train=train_config(epochs=3), epoch_limits=limits)
    active = []
    while not trainer.done():
        active.append(trainer.run_epoch().active.tolist())
    # fold 0 trains in epoch 1 only, fold 2 in epochs 1 and 2, fold 1 in all three
    assert active == [[True, True, True], [False, True, True], [False, True, False]]
    assert trainer.best_epoch.tolist() == [1, 3, 2]
    # fold 2 stopped after two epochs holds the weights of a plain two-epoch run
    two = FoldTrainer(w, model=model_config(), train=train_config(epochs=2))
    while not two.done():
        two.run_epoch()
    assert_same_weights(weights(trainer, 2), weights(two, 2))
    for bad in ([1, 2], [0, 1, 1], [1, 4, 1], [1.0, 2.0, 3.0]):
        with pytest.raises(
            ValueError,
            match=r"epoch_limits = .*: pass one integer per fold \(3\), each in 1..train.epochs = 3",
        ):
            FoldTrainer(w, model=model_config(), train=train_config(epochs=3), epoch_limits=np.array(bad))


def test_state_dict_round_trip_resumes_identically():
    w = fold_windows()
    cfg, train = model_config(dropout=0.3, head_dropout=(0.3, 0.2)), train_config(epochs=4, patience=1)
    whole = FoldTrainer(w, model=cfg, train=train)
    first = FoldTrainer(w, model=cfg, train=train)
    for _ in range(2):
        whole.run_epoch()
        first.run_epoch()
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    resumed = FoldTrainer(w, model=cfg, train=train)
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    assert resumed.epoch == 2 and len(resumed.history) == 2
    while not whole.done():
        a, b = whole.run_epoch(), resumed.run_epoch()
        np.testing.assert_array_equal(a.train_loss, b.train_loss)
        np.testing.assert_array_equal(a.val_loss, b.val_loss)
        np.testing.assert_array_equal(a.active, b.active)
    assert resumed.done()
    for f in range(3):
        assert_same_weights(weights(whole, f), weights(resumed, f))
        np.testing.assert_array_equal(whole.predict()[0][f], resumed.predict()[0][f])


def test_the_fallback_optimiser_trains_the_same_and_resumes_a_fused_checkpoint(monkeypatch):
    w = fold_windows()
    cfg, train = model_config(), train_config(epochs=4)
    fused = FoldTrainer(w, model=cfg, train=train)
    assert fused._optim.fused
    for _ in range(2):
        fused.run_epoch()
    state = fused.state_dict()
    monkeypatch.setattr("vixray.optim.fused_adam_works", lambda device: False)  # as if torch dropped the op
    public = FoldTrainer(w, model=cfg, train=train)
    assert not public._optim.fused
    for _ in range(2):
        public.run_epoch()
    resumed = FoldTrainer(w, model=cfg, train=train)
    resumed.load_state_dict(state)  # a checkpoint written on one path continues on the other
    while not fused.done():
        fused.run_epoch()
        public.run_epoch()
        resumed.run_epoch()
    for f in range(3):
        for other in (public, resumed):
            for a, b in zip(weights(fused, f), weights(other, f), strict=True):
                torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_load_state_dict_rejects_a_mismatched_checkpoint():
    w = fold_windows()
    state = FoldTrainer(w, model=model_config(), train=train_config()).state_dict()
    with pytest.raises(
        ValueError, match=r"checkpoint has \(folds, parameters\) = \(3, \d+\) but this trainer has \(2"
    ):
        FoldTrainer(fold_windows(sizes=(40, 52)), model=model_config(), train=train_config()).load_state_dict(
            state
        )
    with pytest.raises(ValueError, match="checkpoint format = 99"):
        FoldTrainer(w, model=model_config(), train=train_config()).load_state_dict({**state, "format": 99})
    other = FoldTrainer(w, model=model_config(dropout=0.1), train=train_config())
    with pytest.raises(ValueError, match="differs from model"):
        other.load_state_dict(state)


def test_nan_loss_raises_naming_epoch_and_fold():
    trainer = FoldTrainer(fold_windows(), model=model_config(), train=train_config())
    trainer.run_epoch()
    with torch.no_grad():
        trainer.model.head_bias[-1][1].fill_(float("nan"))  # fold 1's weights have diverged
    with pytest.raises(FloatingPointError, match=r"epoch 2: the training loss is nan in fold\(s\) \[1\]"):
        trainer.run_epoch()


def test_threads_are_set_from_the_config(monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    FoldTrainer(fold_windows(), model=model_config(), train=train_config(threads=1))
    FoldTrainer(fold_windows(), model=model_config(), train=train_config(threads=None))
    assert calls == [1]


# ------------------------------------------------------------------------------------------------ errors


def test_resolve_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu") and resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="train.device = 'cuda': CUDA is not available.*use 'auto' or 'cpu'"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="train.device = 'cuda:1': CUDA is not available"):
        resolve_device("cuda:1")
    with pytest.raises(ValueError, match="train.device = 'tpu': unknown device"):
        resolve_device("tpu")
    with pytest.raises(ValueError, match="CUDA is not available"):
        FoldTrainer(fold_windows(), model=model_config(), train=train_config(device="cuda"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("auto") == torch.device("cuda")
    with pytest.raises(ValueError, match=r"'cuda:3': this machine has 1 CUDA device\(s\)"):
        resolve_device("cuda:3")


def test_the_window_length_comes_from_the_windows_alone():
    # model.seq_len shapes the windows (crossval.prepare_folds); the network reads any length, so the trainer
    # takes the windows' own and the two cannot disagree
    w = fold_windows()
    trainer = FoldTrainer(w, model=model_config(seq_len=5), train=train_config(epochs=1))
    trainer.run_epoch()
    proba, _ = trainer.predict("test")
    assert w.seq_len == 3 and proba[0].shape == (int(w.m_test[0].sum()), 3)


def test_bad_windows_raise():
    w = fold_windows()
    x = w.x_val.copy()
    x[2, 0, 1, 0] = np.nan
    with pytest.raises(ValueError, match=r"windows.x_val has a NaN or infinite value in fold 2, window 0"):
        FoldTrainer(dataclasses.replace(w, x_val=x), model=model_config(), train=train_config())
    y = w.y_test.copy()
    y[0, 0] = 3
    with pytest.raises(ValueError, match=r"windows.y_test holds label 3"):
        FoldTrainer(dataclasses.replace(w, y_test=y), model=model_config(), train=train_config())
    m = w.m_fit.copy()
    m[1] = False
    with pytest.raises(ValueError, match=r"fold\(s\) \[1\] have no training windows"):
        FoldTrainer(dataclasses.replace(w, m_fit=m), model=model_config(), train=train_config())
    with pytest.raises(ValueError, match=r"windows.class_weights has shape \(2, 3\): expected \(3, K\)"):
        FoldTrainer(
            dataclasses.replace(w, class_weights=w.class_weights[:2]),
            model=model_config(),
            train=train_config(),
        )
    # two weight columns say two classes: a label 2 is then out of range
    with pytest.raises(ValueError, match=r"windows.y_fit holds label 2: labels must be class ids 0..1"):
        FoldTrainer(
            dataclasses.replace(w, class_weights=w.class_weights[:, :2]),
            model=model_config(),
            train=train_config(),
        )
    cw = w.class_weights.copy()
    cw[0, 1] = -1.0
    with pytest.raises(
        ValueError, match=r"windows.class_weights\[0\] = \[.*\]: weights must be finite and > 0"
    ):
        FoldTrainer(dataclasses.replace(w, class_weights=cw), model=model_config(), train=train_config())
    with pytest.raises(ValueError, match=r"windows.y_val has shape \(3, 4\): expected \(3, \d+\)"):
        FoldTrainer(dataclasses.replace(w, y_val=w.y_val[:, :4]), model=model_config(), train=train_config())


def test_misuse_raises():
    trainer = FoldTrainer(fold_windows(), model=model_config(), train=train_config(epochs=1))
    trainer.run_epoch()
    assert trainer.done()
    with pytest.raises(ValueError, match=r"run_epoch after training finished \(epoch 1 of train.epochs = 1"):
        trainer.run_epoch()
    with pytest.raises(ValueError, match=r"split = 'train': choose one of \['fit', 'test', 'val'\]"):
        trainer.predict("train")


def test_plain_model_is_the_reference_architecture():
    model = LSTMClassifier(C, model_config(num_layers=2, dropout=0.2))
    assert model.lstm.num_layers == 2 and model.lstm.dropout == 0.2 and model.lstm.batch_first
    assert [m.out_features for m in model.linears()] == [6, 4, 3]


@pytest.mark.parametrize("kind", ["lstm", "gru", "transformer"])
def test_every_family_trains_and_predicts_with_its_fold_weights(kind):
    w = fold_windows(val_fraction=0.0)  # no validation: the last weights are the ones predict uses
    extra = {"heads": 2} if kind == "transformer" else {}
    trainer = FoldTrainer(w, model=model_config(kind=kind, **extra), train=train_config(epochs=3))
    losses = []
    while not trainer.done():
        losses.append(trainer.run_epoch().train_loss)
    assert np.all(np.isfinite(losses)) and np.mean(losses[-1]) < np.mean(losses[0])
    proba, pred = trainer.predict("test")
    with torch.no_grad():
        for f in range(3):
            single = trainer.model.to_single(f).eval()
            x = torch.from_numpy(w.x_test[f][w.m_test[f]])
            np.testing.assert_allclose(proba[f], single(x).double().softmax(-1).numpy(), atol=1e-5)
            np.testing.assert_array_equal(pred[f], proba[f].argmax(axis=1))
