"""classification/budget.py: equal-budget epochs in crops, the train-set count, the val curve reader."""

from blendaug.classification.budget import classifier_budget, train_set_size, val_curve
from blendaug.classification.report import write_curves


def test_classifier_budget_by_hand():
    b = classifier_budget(30, n_train=train_set_size([10, 14], synthetic_ratio=1.0), n_train_reference=24,
                          budget="images", patience=6)
    assert b.n_train == 48 and b.epochs == 15 and b.settings == {"patience": 3}
    assert classifier_budget(30, 48, 24, "epochs").epochs == 30
    assert classifier_budget(30, 48, 24, "images").settings == {"patience": 0}  # no early stopping stays off


def test_train_set_size_counts_like_classify_train():
    # Per class: real + 2 classical copies + round(0.5 * real) GAN crops (3 -> round(1.5) = 2, 5 -> round(2.5) = 2).
    assert train_set_size([3, 5], classical_factor=2, synthetic_ratio=0.5) == 3 * 3 + 5 * 3 + 2 + 2
    assert train_set_size([3, 5], synthetic_count=4) == 8 + 8


def test_val_curve_reads_the_written_curves(tmp_path):
    rows = [{"epoch": e, "lr": 1e-3, "train_loss": 1.0, "train_acc": 0.5, "val_loss": 0.9, "val_acc": a}
            for e, a in ((1, 0.5), (2, 0.625), (3, 0.75))]
    write_curves(tmp_path, rows, best_epoch=3)
    epochs, values = val_curve(tmp_path)
    assert epochs.tolist() == [1, 2, 3] and values.tolist() == [0.5, 0.625, 0.75]
    no_val = [dict(r, val_loss=float("inf"), val_acc=0.0) for r in rows]
    write_curves(tmp_path, no_val, best_epoch=3)
    assert val_curve(tmp_path)[0].size == 0
