import TensorCore
import USOModel
import USOTestSupport

/// The tiny preset with every DiT and projector weight trainable and the LoRA weights drawn
/// nonzero (zero `up` weights would pass no gradient to `down`): where the whole-model
/// gradient comparisons start. `data` goes on drawing the test's inputs.
struct TinyTrainableModel {
    let config: ModelConfig
    let model: USOModel
    let store: ParameterStore
    var data: TestData

    init(seed: UInt64, dataSeed: UInt64) throws {
        config = ModelPreset.tiny.config
        model = try USOModel(config: config)
        store = model.allocate(seed: seed)
        data = TestData(seed: dataSeed)
        for p in model.registry.parameters(in: .lora) { p.value.assign(data.array(p.count, scale: 0.3)) }
        store.allocateGradients { [.base, .lora, .projector].contains($0.group) }
    }
}
