package cn.gridsync.demo.logic

import uniffi.gridsync_ffi.*

/**
 * The add/edit person form as the worker types it. Gender and birth date follow the ID
 * number when one is typed, as on the paper form; the store checks them all.
 */
data class PersonForm(
    val name: String = "",
    val idNumber: String = "",
    val gender: Gender = Gender.FEMALE,
    val birthDate: String = "",
    val ethnicity: String = "01",
    val phone: String = "",
    val householdId: String? = null,
    val relationship: String? = null,
    val personType: PersonType = PersonType.REGISTERED,
    val status: PersonStatus = PersonStatus.ACTIVE,
    val notes: String = "",
) {
    /** Fills gender and birth date from an 18-character resident ID number. */
    fun withIdNumber(value: String): PersonForm {
        val id = value.trim().uppercase()
        if (id.length != 18 || !id.take(17).all { it.isDigit() }) return copy(idNumber = value)
        val birth = "${id.substring(6, 10)}-${id.substring(10, 12)}-${id.substring(12, 14)}"
        val gender = if ((id[16] - '0') % 2 == 1) Gender.MALE else Gender.FEMALE
        return copy(idNumber = value, birthDate = birth, gender = gender)
    }

    fun toPerson(area: String) = Person(
        areaCode = area, name = name.trim(), formerName = null, idType = IdType.RESIDENT_ID,
        idNumber = idNumber.trim().ifEmpty { null }, gender = gender, ethnicity = ethnicity, birthDate = birthDate,
        phone = phone.trim().ifEmpty { null }, householdId = householdId, relationship = relationship,
        personType = personType, registeredAddress = null, currentAddress = null, occupation = null,
        status = status, statusChangedAt = null, focusGroups = emptyList(), notes = notes,
    )

    companion object {
        fun from(person: Person) = PersonForm(
            name = person.name, idNumber = person.idNumber.orEmpty(), gender = person.gender,
            birthDate = person.birthDate, ethnicity = person.ethnicity, phone = person.phone.orEmpty(),
            householdId = person.householdId, relationship = person.relationship, personType = person.personType,
            status = person.status, notes = person.notes,
        )
    }
}
