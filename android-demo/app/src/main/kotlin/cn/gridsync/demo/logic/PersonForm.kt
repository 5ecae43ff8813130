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
    /**
     * Fills gender and birth date from a resident ID number once it reads as one
     * (`parseIdNumber`, the bindings' GB 11643 reading); until then only the number.
     */
    fun withIdNumber(value: String): PersonForm = try {
        val facts = parseIdNumber(value)
        copy(idNumber = value, birthDate = facts.birthDate, gender = facts.gender)
    } catch (e: GridsyncException.InvalidInput) {
        copy(idNumber = value)
    }

    /** A new person from the form; fields the form does not show start empty. */
    fun toPerson(area: String) = Person(
        areaCode = area, name = name.trim(), formerName = null, idType = IdType.RESIDENT_ID,
        idNumber = idNumber.trim().ifEmpty { null }, gender = gender, ethnicity = ethnicity,
        birthDate = birthDate.ifEmpty { null }, // left empty: the store reads it from the ID number
        phone = phone.trim().ifEmpty { null }, householdId = householdId, relationship = relationship,
        personType = personType, registeredAddress = null, currentAddress = null, occupation = null,
        status = status, statusChangedAt = null, focusGroups = emptyList(), notes = notes,
    )

    /**
     * The fields the worker changed on a form opened from [read], and only those: an
     * edit never writes a field the form does not show (重点人群, addresses, occupation
     * stay as they are) nor one the worker left as it was.
     */
    fun changesFrom(read: Person): List<PersonField> = buildList {
        val idNumber = idNumber.trim().ifEmpty { null }
        val phone = phone.trim().ifEmpty { null }
        if (name.trim() != read.name) add(PersonField.Name(name.trim()))
        if (idNumber != read.idNumber) add(PersonField.IdNumber(idNumber))
        if (gender != read.gender) add(PersonField.Gender(gender))
        if (birthDate != read.birthDate) add(PersonField.BirthDate(birthDate))
        if (ethnicity != read.ethnicity) add(PersonField.Ethnicity(ethnicity))
        if (phone != read.phone) add(PersonField.Phone(phone))
        if (householdId != read.householdId) add(PersonField.HouseholdId(householdId))
        if (relationship != read.relationship) add(PersonField.Relationship(relationship))
        if (personType != read.personType) add(PersonField.PersonType(personType))
        if (status != read.status) add(PersonField.Status(status))
        if (notes != read.notes) add(PersonField.Notes(notes))
    }

    companion object {
        fun from(person: Person) = PersonForm(
            name = person.name, idNumber = person.idNumber.orEmpty(), gender = person.gender ?: Gender.FEMALE,
            birthDate = person.birthDate.orEmpty(), ethnicity = person.ethnicity, phone = person.phone.orEmpty(),
            householdId = person.householdId, relationship = person.relationship, personType = person.personType,
            status = person.status, notes = person.notes,
        )
    }
}
