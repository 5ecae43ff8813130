package cn.gridsync.demo.logic

import java.util.concurrent.Executor
import uniffi.gridsync_ffi.*

/** What the sync bar shows. */
data class SyncUiState(
    val running: Boolean = false,
    /** 0..1 while the total is known, null otherwise. */
    val fraction: Float? = null,
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
        publish(state.copy(running = true, fraction = null, error = null))
        executor.execute {
            val listener = object : SyncProgressListener {
                override fun onProgress(progress: Progress) {
                    val total = progress.itemsTotal
                    val fraction = if (total != null && total > 0uL) progress.itemsDone.toFloat() / total.toFloat() else null
                    publish(state.copy(fraction = fraction))
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
        /** A short reason for the sync bar; network errors that may pass say so. */
        fun describe(e: GridsyncException): String = when (e) {
            is GridsyncException.Network -> if (e.retryable) "offline: will retry" else e.reason
            is GridsyncException.Cancelled -> "cancelled"
            is GridsyncException.NotEnrolled -> "not enrolled"
            is GridsyncException.Revoked -> if (e.wiped) "device revoked: data erased" else "device revoked"
            else -> e.message ?: e.javaClass.simpleName
        }
    }
}
