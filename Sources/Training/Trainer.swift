import Comm
import Config
import FlightRecorder
import Foundation
import Reward
import TensorCore
import TripletData
import USOModel

/// A training failure that names what is wrong (a stage without data of the right kind,
/// trainers whose weights diverged, ...).
public struct TrainingError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Data-parallel training on the trainers' communicator: every trainer holds a replica,
/// reads its slice of each global batch, accumulates gradients over micro-batches, and the
/// gradients are summed across trainers (bucketed, overlapped with the last backward);
/// then every trainer takes the same AdamW step. The coordinator (trainer 0) writes
/// metrics, progress and weights.
public final class Trainer {
    public let config: RunConfig
    public let communicator: Communicator
    public let runFolder: String
    public let program: StageProgram
    public let optimizer: AdamW
    public let schedule: LearningRateSchedule
    public let plan: ShardPlan
    public let sync: GradientSync
    let loader: DataLoader
    let metrics: MetricsWriter?
    let tasks: [String]
    /// What the stage is (data kind, tasks, ...).
    public let descriptor: StageDescriptor
    public private(set) var step = 0
    var isCoordinator: Bool { communicator.rank == 0 }

    /// The reward client of dedicated ASR, if any.
    let rewardClient: RewardClient?
    /// The faults tests inject (`USO_FAULT_*`), read once.
    let faults = FaultInjection.fromEnvironment()
    /// Called on every trainer at the top of each step with its number (benchmarks switch
    /// what they compare there, identically on every rank).
    public var stepHook: ((Int) -> Void)?
    /// This trainer's own NaN/infinity check before the sum, and the skipped-in-a-row count.
    let nonFiniteGuard: NonFiniteGuard
    /// RUN/checkpoints.
    public private(set) var checkpoints: CheckpointFolder
    /// The checkpoint a resume started from.
    public private(set) var resumedFrom: String?
    /// Where this rank's flight recorder is flushed (every `diag.flush_every` steps).
    public var diagnostics: RunDiagnostics?
    /// Writes checkpoints (in the background with `run.save_in_background`).
    let saver = CheckpointSaver()
    /// Seconds the last save blocked training to copy the state.
    public private(set) var lastSaveCopySeconds = 0.0
    let quiet: Bool
    /// The training set's manifest and its CRC-32, for the checkpoints.
    let dataFacts: (manifest: String, checksum: String)
    /// How the run was started (the config file's text and the --set overrides), for its checkpoints.
    public var provenance: (configText: String, overrides: [String]) = ("", [])

    /// Builds the stage's model, data and optimizer; with `resume`, continues the run in
    /// `config.run.out` from its saved state.
    /// `exchangeGradients` false skips the gradient exchange (benchmarks' baseline). `world` and
    /// `layout` are needed for dedicated reward ranks (`reward.mode = "dedicated"`).
    public init(config: RunConfig, trainers: Communicator, world: Communicator? = nil, layout: RankLayout? = nil,
                resume: Bool = false, quiet: Bool = false, progress: MetricsWriter.ProgressStyle = .auto,
                exchangeGradients: Bool = true) throws {
        self.config = config
        self.quiet = quiet
        communicator = trainers
        let stage = config.run.stage
        let descriptor = StageDescriptor.of(stage)
        self.descriptor = descriptor
        runFolder = config.run.out.isEmpty ? "runs/\(stage.rawValue)" : config.run.out
        let preset = config.run.preset
        let modelConfig = preset.config
        let seed = UInt64(config.run.seed)

        // The style reward.
        var rewardClient: RewardClient? = nil
        if config.reward.mode != .off {
            guard stage == .uso else { throw TrainingError("reward.mode \(config.reward.mode.rawValue) applies to stage uso only, not \(stage.rawValue)") }
            if config.reward.mode == .dedicated {
                guard let world, let layout, !layout.rewardRanks.isEmpty else {
                    throw TrainingError("reward.mode = \"dedicated\" needs cluster.reward_ranks > 0 (it is \(config.cluster.rewardRanks))")
                }
                rewardClient = RewardClient(world: world, rewardRanks: layout.rewardRanks, trainer: trainers.rank,
                                            deadline: config.reward.deadlineMs / 1000)
            } else if config.reward.mode == .service {
                let deadline = config.reward.deadlineMs / 1000
                let transport = SocketRewardTransport(addresses: config.reward.service, trainer: trainers.rank, trainers: trainers.size,
                                                      connectTimeout: config.reward.connectTimeoutS, sendTimeout: max(1, deadline))
                rewardClient = RewardClient(transport: transport, trainer: trainers.rank, deadline: deadline, required: config.reward.required)
            }
        }
        self.rewardClient = rewardClient
        // Data.
        let dataPath = config.data.path.isEmpty ? "data/\(descriptor.defaultSet)" : config.data.path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dataPath, isDirectory: &isDir) else {
            throw TrainingError("data.path \(dataPath): no such set (make one with uso data synth or uso data import)")
        }
        let manifestPath = isDir.boolValue ? Manifest.path(in: dataPath) : dataPath
        let index = try SampleIndex(manifestPath: manifestPath, split: .train, verifyData: config.data.verifyCRC)   // held-out rows never train
        let wantKind = descriptor.dataKind
        guard index.manifest.kind == wantKind else {
            throw TrainingError("data.path \(manifestPath) holds \(index.manifest.kind.rawValue); stage \(stage.rawValue) trains on \(wantKind.rawValue)")
        }
        let imageSize = descriptor.imageSize(modelConfig)
        guard index.manifest.resolution == imageSize else {
            throw TrainingError("data.path \(manifestPath) holds \(index.manifest.resolution) px images; preset \(preset.rawValue) takes \(imageSize) px (synthesise with --resolution \(imageSize))")
        }
        guard config.data.globalBatch >= trainers.size else {
            throw TrainingError("data.global_batch \(config.data.globalBatch) is smaller than the \(trainers.size) trainers: every trainer needs a sample")
        }
        var grouping: ShardPlan.Grouping? = nil
        if stage == .csd && config.csd.imagesPerStyle > 1 {
            let k = config.csd.imagesPerStyle
            guard config.data.globalBatch % k == 0 else {
                throw TrainingError("csd.images_per_style \(k) does not divide data.global_batch \(config.data.globalBatch): a batch would split a style's group (choose a divisor, or 1 for a plain shuffle)")
            }
            grouping = ShardPlan.Grouping(labels: index.styleIDs, size: k)
        }
        plan = ShardPlan(seed: seed, count: index.count, globalBatch: config.data.globalBatch, grouping: grouping)
        var manifestCRC = CRC32()
        if let bytes = FileManager.default.contents(atPath: manifestPath) { bytes.withUnsafeBytes { manifestCRC.update($0) } }
        dataFacts = (manifestPath, manifestCRC.hex)

        // Model, trainable set and the stage's program.
        let program = try descriptor.makeProgram(config: config, trainers: trainers, dataResolution: index.manifest.resolution,
                                                 rewardClient: rewardClient)
        self.program = program
        tasks = descriptor.tasks
        let o = config.optim
        let sync = GradientSync(communicator: trainers, store: program.store, strategy: config.sync.strategy, exchanges: exchangeGradients,
                                bucketBytes: Int(config.sync.bucketMiB * 1_048_576), shardState: o.shardState, milestone: program.milestone(of:))
        self.sync = sync
        nonFiniteGuard = NonFiniteGuard(trainer: trainers.rank, store: program.store)
        // ZeRO-1: the optimizer owns this trainer's slice and reads its reduced gradients.
        optimizer = AdamW(store: program.store, hyper: .init(beta1: Float(o.beta1), beta2: Float(o.beta2), eps: Float(o.eps),
                                                            weightDecay: Float(o.weightDecay)),
                          owned: sync.owned, gradients: sync.ownedGradients)
        // The schedule's length is planned once, when the run starts: a resume with another
        // --steps moves where training stops, never the learning rates of the steps before.
        var scheduleSteps = config.run.steps

        // Where to start: step 0, or the newest complete checkpoint (never a partial one).
        var cursor = DataCursor()
        let folder = CheckpointFolder(run: runFolder)
        checkpoints = folder
        if trainers.rank == 0 {
            let removed = folder.removeIncomplete()
            if !removed.isEmpty && !quiet { print("uso train: removed what interrupted saves left in \(folder.root): \(removed.joined(separator: ", "))") }
            if let fixed = try folder.repairLatest(), !quiet {
                print("uso train: \(folder.root)/latest now names \(CheckpointFolder.name(step: fixed)), the newest complete checkpoint (a crash had left it behind)")
            }
        }
        try trainers.barrier()
        if !resume, let last = folder.latest() {
            throw TrainingError("\(runFolder) already holds a run (its checkpoint \(CheckpointFolder.name(step: last))): continue it with "
                                + "uso train --resume \(runFolder), or set run.out to another folder; nothing was changed")
        }
        if resume {
            guard let latest = folder.latest() else {
                throw TrainingError("--resume \(runFolder): no complete checkpoint in \(folder.root) (none with a DONE marker); nothing to resume")
            }
            let path = folder.path(step: latest)
            let (state, metadata) = try Checkpoint.read(path)
            guard state.stage == stage.rawValue else {
                throw TrainingError("--resume \(path): a checkpoint of stage \(state.stage); the config says stage \(stage.rawValue)")
            }
            guard state.preset == preset.rawValue else {
                throw TrainingError("--resume \(path): a checkpoint of preset \(state.preset); the config says preset \(preset.rawValue)")
            }
            try Checkpoint.load(path, metadata: metadata, into: optimizer)
            optimizer.step = state.adamStep
            step = state.step
            cursor = state.cursor
            scheduleSteps = state.scheduleSteps
            resumedFrom = path
            if state.trainers != trainers.size && trainers.rank == 0 && !quiet {
                print("uso train: \(path) was written by \(state.trainers) trainer(s), resuming at \(trainers.size): the global sample order "
                      + "and every sample's randomness are the plan's and the sample's, so the run continues unchanged")
            }
            guard step < config.run.steps else {
                throw TrainingError("--resume \(runFolder): the run is at step \(step) already; give --steps above \(step) to train on")
            }
        }
        schedule = LearningRateSchedule(peak: o.lr, minLR: o.minLR, warmup: o.warmupSteps, total: scheduleSteps,
                                        kind: o.schedule)
        // Diffusion stages split each global batch by estimated cost, so trainers reach the sync together.
        let cost = (program as? DiffusionProgram).map {
            DiffusionProgram.costModel(kind: $0.kind, config: $0.model.config, seed: seed, promptDropout: config.data.promptDropout)
        }
        loader = DataLoader(index: index, plan: plan, trainer: trainers.rank, trainers: trainers.size, seed: seed,
                            dropoutProbability: descriptor.dropsConditions ? config.data.conditionDropout : 0, depth: config.data.prefetch,
                            cost: config.data.balance ? cost : nil)
        loader.start(at: cursor)
        if trainers.rank == 0 {
            try FileManager.default.createDirectory(atPath: runFolder, withIntermediateDirectories: true)
            metrics = try MetricsWriter(path: (runFolder as NSString).appendingPathComponent("metrics.jsonl"), totalSteps: config.run.steps,
                                        label: stage.rawValue, append: resume, continuingAt: resume ? step : nil,
                                        style: quiet ? .none : progress)
            if !quiet {
                print("uso train: stage \(stage.rawValue), preset \(preset.rawValue), \(trainers.size) trainer(s), global batch \(config.data.globalBatch), "
                      + "\(program.store.trainableCount) trainable parameters in \(sync.buckets.count) bucket(s), "
                + "AdamW state \(megabytes(optimizer.stateBytes)) per trainer" + (sync.partition != nil ? " (sharded over \(trainers.size) trainers), " : ", ")
                      + "\(index.count) samples (\(plan.stepsPerEpoch) steps per epoch) from \(manifestPath)"
                      + (resume ? "; resuming at step \(step)" : ""))
                if resume && o.schedule == .cosine && scheduleSteps != config.run.steps {
                    print("uso train: the cosine schedule keeps the \(scheduleSteps) steps planned when the run started; "
                          + (config.run.steps > scheduleSteps ? "steps \(scheduleSteps) to \(config.run.steps - 1) train at optim.min_lr (\(o.minLR))"
                             : "training stops at step \(config.run.steps), before its end"))
                }
                fflush(nil)
            }
        } else {
            metrics = nil
        }
    }

    deinit { loader.stop() }

    /// The CSD model named by reward.csd_weights, loaded (for colocated rewards and for reward ranks).
    public static func loadCSD(_ config: RunConfig) throws -> CSDModel {
        guard !config.reward.csdWeights.isEmpty else {
            throw TrainingError("reward.csd_weights is empty: name the csd stage's weights folder (it holds csd.safetensors)")
        }
        let csd = CSDModel(config: config.run.preset.config)
        csd.allocate(seed: 0)
        let path = (config.reward.csdWeights as NSString).appendingPathComponent(ModelWeights.fileName(.csd))
        guard FileManager.default.fileExists(atPath: path) else {
            throw TrainingError("reward.csd_weights \(config.reward.csdWeights) holds no csd.safetensors")
        }
        try ModelWeights.load(csd.registry.parameters(in: .csd), from: path)
        return csd
    }

    /// Trains to `config.run.steps`; returns every step's metrics (the same on every trainer).
    @discardableResult
    public func run() throws -> [StepMetrics] {
        var history: [StepMetrics] = []
        let micro = config.data.microBatch
        let diffusion = program as? DiffusionProgram
        diffusion?.pipelinePhase = communicator.rank
        let recorder = FlightRecorder.shared
        while step < config.run.steps {
            stepHook?(step)
            recorder.currentStep = Int32(step)
            let stepSpan = recorder.begin(.step, .compute)
            diffusion?.currentStep = step
            let missesBefore = rewardClient?.stats.missed ?? 0
            let stepStart = now()
            var times = StepTimes()
            let waitSpan = recorder.begin(.dataWait, .compute)
            recorder.beginWaiting(waitSpan)
            let batch = try loader.next()
            recorder.endWaiting()
            recorder.end(waitSpan)
            times.dataWait = loader.lastWaitSeconds
            if let f = faults.nanSample, f.trainer == communicator.rank, f.step == step, let first = batch.samples.first {
                diffusion?.poison = (first.sampleID, f.source)
            } else {
                diffusion?.poison = nil
            }
            optimizer.store.zeroGradients()
            sync.beginStep()
            nonFiniteGuard.beginStep()
            var losses: [SampleLoss] = []
            let samples = batch.samples
            try program.prepareStep(samples, globalBatch: config.data.globalBatch, micro: micro, times: &times)
            let chunk = micro > 0 ? micro : max(1, samples.count)
            var start = samples.startIndex, microIndex = 0
            while start < samples.endIndex {
                let end = min(samples.endIndex, start + chunk)
                let last = end == samples.endIndex
                let microSpan = recorder.begin(.microBatch, .compute, sequence: Int64(start - samples.startIndex) / Int64(chunk),
                                               bytes: Int64(end - start))
                defer { recorder.end(microSpan) }
                if let f = faults.slow, f.trainer == communicator.rank { usleep(UInt32(f.seconds * 1e6)) }
                let chunkLosses = try program.run(samples[start..<end], epoch: batch.cursor.epoch, globalBatch: config.data.globalBatch,
                                                  milestone: last ? { [sync] m in try sync.reached(milestone: m) } : nil, times: &times)
                nonFiniteGuard.check(microBatch: microIndex, step: step, losses: chunkLosses, samples: samples[start..<end], last: last)
                losses += chunkLosses
                if !last { start = end; microIndex += 1 } else { break }
            }
            if samples.isEmpty { try sync.reached(milestone: Int.max) }
            try sync.finish()
            nonFiniteGuard.checkSynced(sync, microBatch: microIndex, step: step, samples: samples[(samples.startIndex + microIndex * chunk)...])
            times.syncWait = sync.lastExposedSeconds
            injectNonFiniteGradientForTests()

            // Loss sums per task, rewards and deadline misses, over all trainers.
            var mine = StepTotals(tasks: tasks.count)
            for l in losses { mine.add(l, tasks: tasks) }
            mine.misses = Double((rewardClient?.stats.missed ?? 0) - missesBefore)
            // The last number: how many trainers found a non-finite value of their own.
            var wire = mine.flattened + [nonFiniteGuard.report == nil ? 0 : 1]
            try communicator.allreduce(inPlace: &wire, op: .sum)
            let found = wire.removeLast()
            let reports = found > 0 ? try nonFiniteGuard.gather(communicator) : []
            let totals = StepTotals(flattened: wire, tasks: tasks.count)
            let rewardCount = Int(totals.rewardCount), misses = Int(totals.misses)
            let totalLoss = totals.totalLoss, count = totals.samples

            // The same reduced gradients on every trainer now (or, ZeRO-1, each trainer's slice
            // of them): the same checks and the same update.
            let t0 = now()
            let optimizerSpan = recorder.begin(.optimizer, .compute)
            // A NaN or infinity makes the sum of squares non-finite (Float's largest square
            // summed over any count of elements stays finite in Double), so the pass that
            // locates one runs only then.
            var squares = optimizer.localSumOfSquares()
            var firstBad = squares.isFinite ? Int64.max : optimizer.firstNonFiniteGradient().map(Int64.init) ?? Int64.max
            if sync.partition != nil {
                firstBad = try communicator.allreduce(firstBad, op: .min)
                squares = try communicator.allreduce(squares, op: .sum)
            }
            let finite = found == 0 && firstBad == Int64.max && totalLoss.isFinite
            let lr = schedule.rate(at: step)
            var norm = 0.0
            if finite {
                norm = squares.squareRoot()
                optimizer.clip(norm: norm, maxNorm: config.optim.gradClip)
                optimizer.beginUpdate()
                try sync.gatherWeights(store: optimizer.store, offsets: optimizer.offsets) { span in optimizer.update(lr: lr, span: span) }
            }
            times.optimizer = seconds(since: t0)
            recorder.end(optimizerSpan)
            // A skipped step says why: the loss, and the first trainable tensor whose gradient is not finite.
            let nonFinite = firstBad == Int64.max ? nil : optimizer.offsets.lastIndex { $0 <= Int(firstBad) }.map { optimizer.store.trainable[$0].name }
            // The slowest trainer's time in each part of the step, and its whole step last;
            // then whether any trainer is still writing the checkpoint in flight.
            var worst = times.flattened + [seconds(since: stepStart), saver.status(rank: communicator.rank)]
            try communicator.allreduce(inPlace: &worst, op: .max)
            let saveStatus = worst.removeLast()
            let stepSeconds = worst.removeLast()
            if let done = try saver.settle(saveStatus, rank: communicator.rank) { try complete(done) }
            var byTask: [String: Double] = [:], samplesByTask: [String: Int] = [:]
            for (k, t) in tasks.enumerated() where totals.lossCount[k] > 0 {
                byTask[t] = totals.lossSum[k] / totals.lossCount[k]
                samplesByTask[t] = Int(totals.lossCount[k])
            }
            let m0 = StepMetrics(step: step, epoch: batch.cursor.epoch, loss: totalLoss / Double(max(count, 1)), lossByTask: byTask,
                                samplesByTask: samplesByTask, lr: lr, gradNorm: norm, samples: count,
                                samplesPerSecond: Double(count) / max(stepSeconds, 1e-9),
                                time: StepTimes(flattened: worst),
                                stepSeconds: stepSeconds, skipped: !finite, reward: rewardCount > 0 ? totals.rewardSum / Double(rewardCount) : nil,
                                rewardSamples: rewardCount, rewardMisses: misses, nonFiniteGradient: nonFinite ?? reports.first?.tensor)
            var m = m0
            if !reports.isEmpty { m.nonFinite = reports.map(\.description) }
            if step + 1 == config.run.steps {
                // Once per run: every trainer's peak resident memory, on the last line.
                m.peakResidentBytes = try communicator.allgather([Int64(ProcessMemory.peakResidentBytes())]).map { Int($0[0]) }
                m.optimizerStateBytes = try communicator.allgather([Int64(optimizer.stateBytes)]).map { Int($0[0]) }
            }
            history.append(m)
            if !finite && isCoordinator {
                FileHandle.standardError.write(Data(("uso train: step \(step) skipped (no update): loss \(m.loss), "
                    + (nonFinite.map { "first non-finite gradient in \($0)" } ?? "every gradient finite")
                    + (reports.isEmpty ? "" : "; found before the sum by " + reports.map(\.description).joined(separator: "; ")) + "\n").utf8))
            }
            if let metrics, step % config.run.logEvery == 0 || step + 1 == config.run.steps {
                try metrics.write(m)
                metrics.progress(m)
            }
            try nonFiniteGuard.count(skipped: !finite, step: step, limit: config.diag.maxSkippedInARow, reports: reports)
            step += 1
            injectDivergenceForTests()
            if config.run.checksumEvery > 0 && step % config.run.checksumEvery == 0 && sync.exchanges { try checkReplicas() }
            let cursor = plan.advance(batch.cursor)
            if step == config.run.steps || (config.run.saveEvery > 0 && step % config.run.saveEvery == 0) {
                try saveCheckpoint(cursor: cursor, background: config.run.saveInBackground && step < config.run.steps)
                if step == config.run.steps && isCoordinator {
                    for r in program.registries { try ModelWeights.saveAll(r, to: (runFolder as NSString).appendingPathComponent("weights")) }
                }
            }
            recorder.end(stepSpan)
            if let diagnostics, step % config.diag.flushEvery == 0 { try diagnostics.flush() }
            // Fault injection for tests: USO_FAULT_STOP_AFTER=N ends the job after step N as a crash would (past its last save).
            if faults.stopAfter == step {
                try finishPendingSave()
                try communicator.barrier()   // the coordinator's DONE is on disk before any rank stops
                throw TrainingError("USO_FAULT_STOP_AFTER: stopping after step \(step) (fault injection)")
            }
        }
        try finishPendingSave()
        loader.stop()
        try finishRewards()
        return history
    }

    /// Ends the reward conversation: the replies still owed are collected for at most
    /// max(5 s, 4 x reward.deadline_ms); a reward rank or service that owes replies after
    /// that (stopped or gone) is named, and training's results stand (every such sample
    /// trained without the reward, as a deadline miss does). Then the coordinator says how
    /// many rewarded samples got no reward, over all trainers, and why.
    func finishRewards() throws {
        guard let rewardClient else { return }
        let drain = max(5, 4 * config.reward.deadlineMs / 1000)
        let owed = try rewardClient.finish(drain: drain)
        if !owed.isEmpty {
            let list = owed.keys.sorted().map { "\($0) owes \(owed[$0]!)" }.joined(separator: ", ")
            FileHandle.standardError.write(Data((String(format: "uso train: trainer %d: after %.0f s of waiting at the end, reward ", communicator.rank, drain)
                + "replies are still owed (\(list)): the reward server is stopped, gone or stuck; those samples trained without the reward\n").utf8))
        }
        let s = rewardClient.stats
        var counts = [Double(s.sent), Double(s.answered), Double(s.missed), Double(s.lost)]
        try communicator.allreduce(inPlace: &counts, op: .sum)
        let (sent, answered, missed, lost) = (Int(counts[0]), Int(counts[1]), Int(counts[2]), Int(counts[3]))
        if isCoordinator && missed > 0 {
            print("uso train: the style reward: \(sent) rewarded samples, \(answered) answered; \(missed) lost (trained without it): "
                  + "\(missed - lost) past reward.deadline_ms, \(lost) to a lost reward service")
        }
    }

    /// Saves `RUN/checkpoints/step_<step>/`: every trainer copies its part of the state (the
    /// coordinator the weights and state.json, each trainer its optimizer shard under ZeRO-1)
    /// and writes it, in the background or at once; once every trainer's files are synced
    /// (`CheckpointSaver`), the coordinator completes it (`complete`). A save still in flight
    /// is finished first.
    func saveCheckpoint(cursor: DataCursor, background: Bool) throws {
        try finishPendingSave()
        let path = checkpoints.path(step: step)
        var state: CheckpointState? = nil
        if isCoordinator {
            let reward = (program as? DiffusionProgram)?.reward
            state = CheckpointState(step: step, cursor: cursor, seed: config.run.seed, adamStep: optimizer.step,
                                    scheduleSteps: schedule.total, nextLR: schedule.rate(at: step),
                                    rewardMode: config.reward.mode.rawValue, rewardStartStep: config.reward.startStep,
                                    rewardWeightNow: Double(reward?.lambda(step: step) ?? 0), stage: config.run.stage.rawValue,
                                    preset: config.run.preset.rawValue, trainers: communicator.size,
                                    rewardRanks: config.cluster.rewardRanks, worldSize: communicator.size + config.cluster.rewardRanks,
                                    placement: config.cluster.placement.rawValue, configText: provenance.configText,
                                    overrides: provenance.overrides, optimizerShards: sync.partition?.parts ?? 1)
            state?.dataManifest = dataFacts.manifest
            state?.dataChecksum = dataFacts.checksum
        }
        let t0 = now()
        let copySpan = FlightRecorder.shared.begin(.checkpointCopy, .compute, bytes: Int64(CheckpointPart.byteCount(isCoordinator: isCoordinator, optimizer: optimizer)))
        defer { FlightRecorder.shared.end(copySpan) }
        let part = CheckpointPart(trainer: communicator.rank, state: state, optimizer: optimizer, reusing: saver.spare)
        lastSaveCopySeconds = seconds(since: t0)
        try saver.start(part, step: step, folder: path, background: background)
        if !background, let done = try saver.finish(communicator) { try complete(done) }
    }

    /// Waits for the save in flight, if any, and completes it (collective over the trainers).
    func finishPendingSave() throws {
        if let done = try saver.finish(communicator) { try complete(done) }
    }

    /// Every trainer has its part of `save` on disk: the coordinator merges the metadata,
    /// writes DONE, names it in `latest` and prunes to `run.keep_last` plus every `run.keep_every`-th.
    func complete(_ save: CheckpointSaver.Pending) throws {
        guard isCoordinator else { return }
        if faults.stopInSave == save.step { throw TrainingError("USO_FAULT_STOP_IN_SAVE: stopping inside the save of step \(save.step), before DONE (fault injection)") }
        try Checkpoint.complete(save.folder, writers: sync.partition == nil ? [0] : Array(0..<communicator.size))
        try checkpoints.setLatest(save.step)
        checkpoints.prune(keepLast: config.run.keepLast, keepEvery: config.run.keepEvery)
        if !quiet {
            metrics?.note("checkpoint \(CheckpointFolder.name(step: save.step)) complete: \(megabytes(save.bytes)) from the coordinator, "
                          + String(format: "%.2f s from its start (the step blocked %.3f s to copy the state)", saver.lastSeconds, lastSaveCopySeconds))
        }
    }

    /// Compares the trainable weights' sum and sum of squares across trainers, bit for bit;
    /// a mismatch stops the job naming the trainers that differ from trainer 0.
    public func checkReplicas() throws {
        var sum = 0.0, squares = 0.0
        for p in optimizer.store.trainable {
            for i in 0..<p.count {
                let v = Double(p.data[i])
                sum += v
                squares += v * v
            }
        }
        let all = try communicator.allgather([sum, squares])
        let differing = all.indices.filter { all[$0].map(\.bitPattern) != all[0].map(\.bitPattern) }
        guard differing.isEmpty else {
            // Every trainer sees the same mismatch: compare per tensor to name the first that differs.
            let perTensor = optimizer.store.trainable.map { p in
                withExtendedLifetime(p.value) { (0..<p.count).reduce(0.0) { $0 + Double(p.data[$1]) * Double($1 % 7 + 1) } }
            }
            let tensors = try communicator.allgather(perTensor)
            let first = optimizer.store.trainable.indices.first { k in differing.contains { tensors[$0][k].bitPattern != tensors[0][k].bitPattern } }
            throw TrainingError("after step \(step) the trainable weights of trainer(s) \(differing) differ from trainer 0's "
                                + "(sums \(differing.map { all[$0][0] }) vs \(all[0][0])"
                                + (first.map { "; first differing tensor \(optimizer.store.trainable[$0].name)" } ?? "") + "): replicas diverged")
        }
    }
}

/// "12.3 MB".
func megabytes(_ bytes: Int) -> String { String(format: "%.1f MB", Double(bytes) / 1e6) }
