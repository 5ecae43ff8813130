package cn.gridsync.demo.logic

import java.util.concurrent.Executor
import uniffi.gridsync_ffi.*

/** What the sync bar shows. */
data class SyncUiState(
    val running: Boolean = false,
    /** The records' part, 0..1 while the total is known, null otherwise (1 once photos travel). */
    val fraction: Float? = null,
    /** The photos' part by bytes, 0..1, in the photo phase (after every record); null otherwise. */
    val photoFraction: Float? = null,
    /** The latest progress while running (phase, items, photo bytes), for [SyncLine]. */
    val progress: Progress? = null,
    val lastReport: SyncReport? = null,
    val error: String? = null,
)

/**
 * The sync bar's side of [SyncCoordinator]: starts a sync the worker asked for on
 * `executor` (a background thread), or follows the one WorkManager's job is running, and
 * reports its state; `cancel()` stops it, whoever started it, keeping what completed.
 */
class SyncController(
    private val coordinator: SyncCoordinator,
    private val executor: Executor,
    private val onState: (SyncUiState) -> Unit,
) {
    @Volatile private var following = false
    @Volatile var state = SyncUiState()
        private set

    fun start() {
        if (following) return
        following = true
        publish(state.copy(running = true, fraction = null, photoFraction = null, progress = null, error = null))
        executor.execute {
            val listener = object : SyncProgressListener {
                override fun onProgress(progress: Progress) {
                    publish(state.copy(
                        fraction = SyncLine.recordFraction(progress),
                        photoFraction = SyncLine.photoFraction(progress),
                        progress = progress,
                    ))
                }
            }
            val next = when (val outcome = coordinator.sync(SyncOrigin.USER, listener)) {
                is SyncOutcome.Synced -> SyncUiState(running = false, fraction = 1f, lastReport = outcome.report)
                else -> SyncUiState(running = false, lastReport = state.lastReport, error = reasonOf(outcome))
            }
            following = false
            publish(next)
        }
    }

    fun cancel() {
        coordinator.cancel()
    }

    private fun publish(next: SyncUiState) {
        state = next
        onState(next)
    }

    companion object {
        /** What the sync bar says about an outcome that is not a success, in Chinese. */
        fun reasonOf(outcome: SyncOutcome): String? = when (outcome) {
            is SyncOutcome.Synced -> null
            is SyncOutcome.RetryLater -> outcome.reason
            is SyncOutcome.Cancelled -> outcome.reason
            is SyncOutcome.NeedsEnrolment -> outcome.reason
            is SyncOutcome.Revoked -> outcome.reason
            is SyncOutcome.Failed -> outcome.reason
        }

        /** The reason for the sync bar, in Chinese, as the bindings word it for every error. */
        fun describe(e: GridsyncException): String = when (e) {
            is GridsyncException.Network -> e.messageZh
            is GridsyncException.Cancelled -> e.messageZh
            is GridsyncException.NotEnrolled -> e.messageZh
            is GridsyncException.Revoked -> e.messageZh
            is GridsyncException.InvalidInput -> e.messageZh
            is GridsyncException.WrongKey -> e.messageZh
            is GridsyncException.NotFound -> e.messageZh
            is GridsyncException.AlreadyExists -> e.messageZh
            is GridsyncException.OutOfScope -> e.messageZh
            is GridsyncException.IllegalStep -> e.messageZh
            is GridsyncException.StepNotYours -> e.messageZh
            is GridsyncException.WrongKind -> e.messageZh
            is GridsyncException.Unauthorized -> e.messageZh
            is GridsyncException.Protocol -> e.messageZh
            is GridsyncException.PhotoQuotaFull -> e.messageZh
            is GridsyncException.StorageFull -> e.messageZh
            is GridsyncException.Storage -> e.messageZh
        }
    }
}
