package cn.gridsync.demo.logic

import com.google.zxing.BarcodeFormat
import com.google.zxing.BinaryBitmap
import com.google.zxing.DecodeHintType
import com.google.zxing.RGBLuminanceSource
import com.google.zxing.ReaderException
import com.google.zxing.common.HybridBinarizer
import com.google.zxing.qrcode.QRCodeReader
import uniffi.gridsync_ffi.EnrolmentLinkInfo
import uniffi.gridsync_ffi.GridsyncException
import uniffi.gridsync_ffi.parseEnrolmentLink

/**
 * The console's enrolment QR code (设备 page), read from a photo the worker takes of the
 * screen with the phone's own camera app. No CAMERA permission (the demo's photos need
 * none either), no Google Play services (most phones sold in China have none, so no ML
 * Kit or Code Scanner), only ZXing's core decoder. Pixels are ARGB, as Android's
 * `Bitmap.getPixels` and Java's `BufferedImage.getRGB` give them; decode the photo at
 * about [SCAN_SIDE] px on its longest side first: a 12 MP photo is slow and no better.
 */
object EnrolmentScan {
    const val SCAN_SIDE = 1600

    /** What a scan came to, for the enrol screen to show. */
    sealed interface Scanned {
        /** A link: show [info] (the center, the code) and let the worker confirm. */
        data class Link(val text: String, val info: EnrolmentLinkInfo) : Scanned
        /** A QR code, but not the console's enrolment: [messageZh] says what to scan. */
        data class NotALink(val messageZh: String) : Scanned
        /** No QR code could be read: take the photo again, nearer and straight on. */
        data object NoCode : Scanned
    }

    /** The text of the QR code in the photo, or null when none reads. */
    fun read(argb: IntArray, width: Int, height: Int): String? {
        val bitmap = BinaryBitmap(HybridBinarizer(RGBLuminanceSource(width, height, argb)))
        val hints = mapOf(
            DecodeHintType.POSSIBLE_FORMATS to listOf(BarcodeFormat.QR_CODE),
            DecodeHintType.TRY_HARDER to true,
            DecodeHintType.CHARACTER_SET to "UTF-8",
        )
        return try {
            QRCodeReader().decode(bitmap, hints).text
        } catch (e: ReaderException) {
            null
        }
    }

    /** [text] (scanned, or pasted on an emulator) as the enrol screen takes it. */
    fun interpret(text: String?): Scanned {
        val scanned = text?.trim()?.takeIf { it.isNotEmpty() } ?: return Scanned.NoCode
        return try {
            Scanned.Link(scanned, parseEnrolmentLink(scanned))
        } catch (e: GridsyncException.InvalidInput) {
            Scanned.NotALink(e.messageZh)
        }
    }
}
