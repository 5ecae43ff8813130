package cn.gridsync.demo.logic

import uniffi.gridsync_ffi.*

/** One change of a record as the history screen lists it: when, who, what. */
data class HistoryRow(val time: String, val worker: String, val what: String)

/** A change of this phone's that the center refused, as the worker reads it. */
data class RefusedRow(val recordId: String, val time: String, val reason: String)

/**
 * Who changed a record and what, and the changes the center refused, in the words and
 * the time the township console uses (China time, fields by their Chinese labels).
 */
object RecordHistory {
    /** Newest first. Two phones that registered the same person offline both show 登记. */
    fun rows(entries: List<HistoryEntry>): List<HistoryRow> = entries.map { entry ->
        val what = when {
            entry.registers -> "登记"
            entry.fields == listOf("deleted") -> "删除或恢复"
            entry.fields.isEmpty() -> "无字段改动"
            else -> "修改了" + entry.fieldsZh.joinToString("、")
        }
        // A phone whose clock was wrong wrote a time nobody should trust: say so.
        val time = chinaTime(entry.at) + if (entry.timeDoubtful) "（设备时间有误）" else ""
        HistoryRow(time, entry.worker.ifEmpty { "未登记的网格员" }, what)
    }.asReversed()

    /** Newest first, as the store lists them. */
    fun refused(changes: List<QuarantinedChange>): List<RefusedRow> =
        changes.map { RefusedRow(it.recordId, chinaTime(it.at), it.reasonZh) }
}
