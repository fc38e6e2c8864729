"""measure layer of logloss (see the package docstring for the layers).

Quantities of a user's ``nn.Module`` at one θ.  "Any model" means: any module whose output
for a sample is a function of that sample and θ alone, computed by operations that
``torch.func.vmap`` can batch (MLPs, CNNs, LayerNorm/GroupNorm, BatchNorm and dropout in
eval mode, attention, tied or reused layers, inputs of any rank).  Every public function
checks its inputs at one boundary (:mod:`logloss.measure._guard`) and raises
:class:`~logloss.core.errors.InvalidInput` with the fix for: BatchNorm or dropout in train
mode (per-sample gradients are undefined; call ``model.eval()``), other randomness or
batch coupling in the forward pass, targets whose shape differs from the output's (no
broadcasting; integer class labels only with the cross-entropy), no trainable parameters,
inputs of another dtype or device than the parameters, operations vmap cannot batch
(``nn.LSTM``), bad chunk sizes.  Frozen parameters are excluded from θ and counted
(``frozen`` on the results).  No function changes the model: modes, ``requires_grad``,
dtypes, parameters, ``.grad``, buffers and the global RNG state are as before the call.
"""
