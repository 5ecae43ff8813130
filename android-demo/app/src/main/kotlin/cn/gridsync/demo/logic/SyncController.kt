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
 * Runs one sync at a time on `executor` (a background thread; WorkManager runs the same
 * call when the network returns) and reports its state; `cancel()` stops it between
 * pages, keeping what completed.
 */
class SyncController(
    private val store: GridStore,
    private val options: CenterOptions,
    private val executor: Executor,
    private val onState: (SyncUiState) -> Unit,
) {
    @Volatile private var cancel: SyncCancel? = null
    @Volatile var state = SyncUiState()
        private set

    fun start() {
        if (cancel != null) return
        val token = SyncCancel().also { cancel = it }
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
            val next = try {
                SyncUiState(running = false, fraction = 1f, lastReport = store.sync(options, listener, token))
            } catch (e: GridsyncException) {
                SyncUiState(running = false, lastReport = state.lastReport, error = describe(e))
            } finally {
                cancel = null
            }
            publish(next)
        }
    }

    fun cancel() {
        cancel?.cancel()
    }

    private fun publish(next: SyncUiState) {
        state = next
        onState(next)
    }

    companion object {
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
